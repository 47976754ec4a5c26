"""An independent relying party (Authlib) signs a person in through Keystead's own sign-in page.

Chromium (driven by Playwright) plays the person's browser; Authlib's OAuth2Session
plays the application's back end. The redirect URI is the live server's /healthz,
so the browser's final address carries the code back to the test.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from oauth2_provider.models import get_application_model

from .conftest import PERSON_PASSWORD, sign_in_as

pytestmark = pytest.mark.browser


def test_code_pkce_flow_through_the_sign_in_page(page, live_server, person):
    app, rp, discovery, redirect_uri = _relying_party(
        live_server, scope="openid email profile groups offline_access")
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = rp.create_authorization_url(discovery["authorization_endpoint"],
                                             code_verifier=verifier, nonce=nonce)

    # Not signed in yet: Keystead's own sign-in page, then straight back to the application.
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/\?next=/oauth/authorize/"))
    sign_in_as(page, person.email, PERSON_PASSWORD, path=page.url)
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    assert f"state={state}" in page.url

    token = rp.fetch_token(discovery["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)

    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = JsonWebToken(["RS256"]).decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": discovery["issuer"]},
        "aud": {"essential": True, "value": app.client_id},
        "exp": {"essential": True},
        "nonce": {"essential": True, "value": nonce}})
    claims.validate()
    assert claims["sub"] == str(person.subject)
    assert claims["email"] == "ada@example.com"
    assert claims["name"] == "Ada Lovelace"

    info = rp.get(discovery["userinfo_endpoint"]).json()
    assert info["sub"] == str(person.subject)
    assert info["email_verified"] is True
    assert info["password_changed_at"] == int(person.password_changed_at.timestamp())

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert rp.get(discovery["userinfo_endpoint"]).json()["sub"] == str(person.subject)

    with pytest.raises(OAuthError) as reuse:
        rp.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as family:
        rp.refresh_token(discovery["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert family.value.error == "invalid_grant"
    rp.close()


def _relying_party(live_server, *, post_logout: bool = False, scope: str = "openid email"):
    """A registered confidential application and an Authlib session for it."""
    Application = get_application_model()
    redirect_uri = f"{live_server.url}/healthz"
    client_secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name="Wiki", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri, client_secret=client_secret, skip_authorization=True,
        post_logout_redirect_uris=f"{live_server.url}/healthz" if post_logout else "",
        algorithm=Application.RS256_ALGORITHM)
    discovery = requests.get(f"{live_server.url}/.well-known/openid-configuration",
                             timeout=10).json()
    rp = OAuth2Session(app.client_id, client_secret, redirect_uri=redirect_uri,
                       scope=scope, code_challenge_method="S256")
    return app, rp, discovery, redirect_uri


def _authorization_url(rp, discovery, **extra) -> tuple[str, str, str]:
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = rp.create_authorization_url(discovery["authorization_endpoint"],
                                             code_verifier=verifier, nonce=nonce, **extra)
    return url, state, verifier


def _id_token_claims(token, discovery, app) -> dict:
    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = JsonWebToken(["RS256"]).decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": discovery["issuer"]},
        "aud": {"essential": True, "value": app.client_id}})
    claims.validate()
    return claims


def _tokens_through_sign_in(page, rp, discovery, redirect_uri, person) -> dict:
    """The code flow from a browser without a Keystead session: sign in, then exchange."""
    url, _, verifier = _authorization_url(rp, discovery)
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/\?next=/oauth/authorize/"))
    sign_in_as(page, person.email, PERSON_PASSWORD, path=page.url)
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    return rp.fetch_token(discovery["token_endpoint"], authorization_response=page.url,
                          code_verifier=verifier)


def _signed_in_on_the_portal(page, person) -> None:
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.wait_for_url(re.compile(r"/$"))


def test_max_age_sends_an_old_session_back_through_sign_in(page, live_server, person):
    from datetime import timedelta

    from django.utils import timezone

    from keystead.directory.models import Event
    from keystead.login.models import SignedInSession

    app, rp, discovery, redirect_uri = _relying_party(live_server)
    _signed_in_on_the_portal(page, person)
    signed_in_long_ago = timezone.now() - timedelta(minutes=10)
    SignedInSession.objects.filter(user=person).update(signed_in_at=signed_in_long_ago)

    url, state, verifier = _authorization_url(rp, discovery, max_age=60)
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/\?prompt=login&next=/oauth/authorize/"))
    page.get_by_label("Password", exact=True).wait_for()  # asked again, despite the session
    sign_in_as(page, person.email, PERSON_PASSWORD, path=page.url)
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    assert f"state={state}" in page.url

    token = rp.fetch_token(discovery["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)
    claims = _id_token_claims(token, discovery, app)
    assert claims["auth_time"] > signed_in_long_ago.timestamp() + 60  # the new sign-in
    event = Event.objects.get(action="oidc.reauthentication_required")
    assert event.detail["reason"] == "max_age" and event.detail["client_id"] == app.client_id
    rp.close()


def test_max_age_within_the_limit_passes_without_a_page(page, live_server, person):
    _, rp, discovery, redirect_uri = _relying_party(live_server)
    _signed_in_on_the_portal(page, person)
    url, _, _ = _authorization_url(rp, discovery, max_age=3600)
    page.goto(url)
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    rp.close()


def test_login_hint_fills_in_the_email_field(page, live_server, person):
    from playwright.sync_api import expect

    app, rp, discovery, redirect_uri = _relying_party(live_server)
    url, _, verifier = _authorization_url(rp, discovery, login_hint=person.email)
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/\?next=/oauth/authorize/"))
    email = page.get_by_label("Email")
    expect(email).to_have_value(person.email)
    page.get_by_label("Password", exact=True).fill(PERSON_PASSWORD)  # only the password typed
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    token = rp.fetch_token(discovery["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)
    assert _id_token_claims(token, discovery, app)["email"] == person.email
    rp.close()


def test_rp_initiated_logout_ends_the_keystead_session(page, live_server, person):

    _, rp, discovery, redirect_uri = _relying_party(live_server, post_logout=True)
    token = _tokens_through_sign_in(page, rp, discovery, redirect_uri, person)
    page.goto("/")
    page.wait_for_url(re.compile(r"/$"))  # signed in on Keystead's portal

    logout_url = discovery["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": redirect_uri,
        "state": "bye-1"})
    page.goto(logout_url)
    page.get_by_role("button", name="Logout").click()
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?state=bye-1$"))

    page.goto("/")
    page.wait_for_url(re.compile(r"/login/"))  # the Keystead session is over
    page.get_by_label("Password", exact=True).wait_for()
    with pytest.raises(OAuthError) as refused:  # the application's tokens went with it
        rp.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    rp.close()


def test_rp_initiated_logout_to_an_unregistered_address_keeps_the_session(page, live_server,
                                                                          person):
    _, rp, discovery, redirect_uri = _relying_party(live_server, post_logout=True)
    token = _tokens_through_sign_in(page, rp, discovery, redirect_uri, person)
    response = page.goto(discovery["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": "https://evil.example.com/bye"}))
    assert response.status == 400
    page.goto("/")
    page.wait_for_url(re.compile(r"/$"))  # still signed in
    rp.close()


def test_prompt_login_and_consent_ask_again_and_show_the_consent_page(page, live_server, person):
    _, rp, discovery, redirect_uri = _relying_party(live_server)  # skips consent normally
    _signed_in_on_the_portal(page, person)
    url, state, _ = _authorization_url(rp, discovery, prompt="login consent")
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/\?prompt=login&next=/oauth/authorize/"))
    sign_in_as(page, person.email, PERSON_PASSWORD, path=page.url)
    allow = page.get_by_role("button", name="Authorize")
    allow.wait_for()  # the consent page, although the application skips it otherwise
    allow.click()
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code="))
    assert f"state={state}" in page.url
    rp.close()
