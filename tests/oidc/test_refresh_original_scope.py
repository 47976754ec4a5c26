"""A refresh's scope is bounded by, and defaults to, the family's original grant (RFC 6749 §6).

"The requested scope MUST NOT include any scope not originally granted by the
resource owner, and if omitted is treated as equal to the scope originally
granted by the resource owner." The original grant is what the sign-in granted
(``FamilySignIn.granted_scope``), not the scope of the access token being
replaced: a refresh that narrows the scope does not narrow the ones after it.
Every place a family starts is covered (authorization code with and without
``openid``, the password grant), once through an independent OAuth client
(Authlib) over real HTTP; families from before the grant was kept keep the old
behaviour.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from django.test import Client
from oauth2_provider.models import RefreshToken, get_application_model

from keystead.providers.oidc.models import FamilySignIn, token_checksum

from .conftest import PASSWORD
from .helpers import REDIRECT, basic, code_tokens, make_app, refresh
from .test_refresh_grant import verified_claims

Application = get_application_model()
ALL = "openid email profile groups"


def granted(answer, scope: str) -> dict:
    assert answer.status_code == 200, answer.content
    assert answer.json()["scope"] == scope
    return answer.json()


def refused_as_wider(answer) -> None:
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"] == "invalid_scope"


def test_after_a_narrower_refresh_an_omitted_scope_is_the_original_grant(browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret, scope=ALL)
    narrow = granted(refresh(app, secret, first["refresh_token"], scope="openid"), "openid")
    assert "given_name" not in verified_claims(narrow["id_token"])
    again = granted(refresh(app, secret, narrow["refresh_token"]), ALL)
    claims = verified_claims(again["id_token"])
    assert claims["given_name"] == "Grace" and claims["groups"] == ["Engineering"]
    # Without openid in between: the family's ID tokens come back, with the original
    # sign-in's auth_time (kept beside the grant).
    no_openid = granted(refresh(app, secret, again["refresh_token"], scope="email"), "email")
    assert "id_token" not in no_openid
    back = granted(refresh(app, secret, no_openid["refresh_token"]), ALL)
    assert verified_claims(back["id_token"])["auth_time"] == \
        verified_claims(first["id_token"])["auth_time"]


def test_after_a_narrower_refresh_the_original_grant_may_be_asked_for_and_no_more(
        browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret, scope="openid profile email")
    narrow = granted(refresh(app, secret, first["refresh_token"], scope="openid"), "openid")
    # Beyond the original grant: refused, and the token is not spent.
    refused_as_wider(refresh(app, secret, narrow["refresh_token"],
                             scope="openid profile groups"))
    some = granted(refresh(app, secret, narrow["refresh_token"], scope="openid profile"),
                   "openid profile")
    assert verified_claims(some["id_token"])["given_name"] == "Grace"
    whole = granted(refresh(app, secret, some["refresh_token"],
                            scope="openid profile email"), "openid profile email")
    refused_as_wider(refresh(app, secret, whole["refresh_token"], scope="openid groups"))
    refused_as_wider(refresh(app, secret, whole["refresh_token"], scope=f"{ALL} offline_access"))


def test_a_family_without_openid_keeps_its_grant_too(browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret, scope="email profile")
    assert "id_token" not in first
    narrow = granted(refresh(app, secret, first["refresh_token"], scope="email"), "email")
    again = granted(refresh(app, secret, narrow["refresh_token"]), "email profile")
    assert "id_token" not in again
    refused_as_wider(refresh(app, secret, again["refresh_token"], scope="openid email"))


@pytest.mark.parametrize("scope", ["openid profile email", "profile email"])
def test_a_password_grant_family_keeps_its_grant(person, scope):
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    first = Client().post("/oauth/token/", {"grant_type": "password", "username": person.email,
                                            "password": PASSWORD, "scope": scope},
                          **basic(app, secret))
    first = granted(first, scope)
    narrow = granted(refresh(app, secret, first["refresh_token"], scope="email"), "email")
    again = granted(refresh(app, secret, narrow["refresh_token"]), scope)
    assert ("id_token" in again) is ("openid" in scope)
    refused_as_wider(refresh(app, secret, again["refresh_token"], scope=f"{scope} groups"))


@pytest.mark.parametrize("kept", ["row without a grant", "no row"])
def test_a_family_from_before_the_grant_was_kept_narrows_for_good(browser_client, kept):
    """Families that started before ``granted_scope`` existed: a row with only the sign-in
    time (they started with openid), or none (they started without). Their original
    grant is unknown, so the replaced access token's scope stands for it, as before."""
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret, scope=ALL)
    family = RefreshToken.objects.get(
        token_checksum=token_checksum(first["refresh_token"])).token_family
    rows = FamilySignIn.objects.filter(token_family=family)
    if kept == "no row":
        rows.delete()
    else:
        rows.update(granted_scope="")
    narrow = granted(refresh(app, secret, first["refresh_token"], scope="openid email"),
                     "openid email")
    again = granted(refresh(app, secret, narrow["refresh_token"]), "openid email")
    refused_as_wider(refresh(app, secret, again["refresh_token"], scope=ALL))


# --- the same through an independent OAuth client over real HTTP -------------------------

@pytest.mark.django_db(transaction=True)
def test_an_authlib_client_narrows_and_gets_the_original_grant_back(live_server, settings,
                                                                      person):
    """Authlib signs in by the code flow with PKCE (a browser signed in on the sign-in form),
    then refreshes: narrower, without ``scope`` (the whole grant again), part of the
    grant, beyond it (``invalid_scope``, an ``OAuthError`` for Authlib)."""
    settings.BASE_URL = live_server.url
    app, secret = make_app()
    discovery = httpx.get(f"{live_server.url}/.well-known/openid-configuration",
                          timeout=30).json()
    endpoint = discovery["token_endpoint"]
    verifier = secrets.token_urlsafe(48)
    # No scope on the client itself: Authlib would send it with every refresh.
    with OAuth2Client(app.client_id, secret, redirect_uri=REDIRECT, code_challenge_method="S256",
                      token_endpoint_auth_method="client_secret_basic", timeout=30) as rp, \
            httpx.Client(base_url=live_server.url, timeout=30) as browser:
        authorize_url, _ = rp.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6",
            scope="openid profile email")
        page = browser.get("/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        signed_in = browser.post("/login/", data={"csrfmiddlewaretoken": csrf,
                                                  "username": person.email,
                                                  "password": PASSWORD},
                                 headers={"Referer": f"{live_server.url}/login/"})
        assert signed_in.status_code == 302, signed_in.text[:500]
        answer = browser.get(authorize_url)
        assert answer.status_code == 302 and answer.headers["location"].startswith(REDIRECT)
        token = rp.fetch_token(endpoint, authorization_response=answer.headers["location"],
                               code_verifier=verifier)
        assert token["scope"] == "openid profile email"

        assert rp.refresh_token(endpoint, scope="openid")["scope"] == "openid"
        again = rp.refresh_token(endpoint)
        assert again["scope"] == "openid profile email" and "id_token" in again
        assert rp.refresh_token(endpoint, scope="email")["scope"] == "email"
        assert rp.refresh_token(endpoint, scope="openid profile")["scope"] == "openid profile"
        with pytest.raises(OAuthError) as wider:
            rp.refresh_token(endpoint, scope="openid profile groups")
        assert wider.value.error == "invalid_scope"
        # The refused request spent nothing: the same refresh token still works.
        assert rp.refresh_token(endpoint)["scope"] == "openid profile email"
