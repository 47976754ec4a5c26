"""An independent relying party (Authlib) signs a person in through Keystead's own sign-in page.

Chromium (driven by Playwright) plays the person's browser; Authlib's OAuth2Session
plays the application's back end. The redirect URI is the live server's /healthz,
so the browser's final address carries the code back to the test.
"""

from __future__ import annotations

import re
import secrets

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
    Application = get_application_model()
    redirect_uri = f"{live_server.url}/healthz"
    client_secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name="Wiki", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri, client_secret=client_secret, skip_authorization=True,
        algorithm=Application.RS256_ALGORITHM)

    discovery = requests.get(f"{live_server.url}/.well-known/openid-configuration",
                             timeout=10).json()
    rp = OAuth2Session(app.client_id, client_secret, redirect_uri=redirect_uri,
                       scope="openid email profile groups offline_access",
                       code_challenge_method="S256")
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
    assert claims["sub"] == str(person.pk)
    assert claims["email"] == "ada@example.com"
    assert claims["name"] == "Ada Lovelace"

    info = rp.get(discovery["userinfo_endpoint"]).json()
    assert info["sub"] == str(person.pk)
    assert info["email_verified"] is True
    assert info["password_changed_at"] == int(person.password_changed_at.timestamp())

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert rp.get(discovery["userinfo_endpoint"]).json()["sub"] == str(person.pk)

    with pytest.raises(OAuthError) as reuse:
        rp.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as family:
        rp.refresh_token(discovery["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert family.value.error == "invalid_grant"
    rp.close()
