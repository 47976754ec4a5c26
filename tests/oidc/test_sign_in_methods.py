"""ID tokens state how the person signed in: ``amr`` (RFC 8176) and ``acr`` (REFEDS MFA after
a second factor), for the sign-in of the browser session that asked for the code, and the
same on every refresh of that family (OpenID Connect Core §12.2).

People sign in through the real pages (password, then a TOTP code from Debian's
``oathtool``); ID tokens are verified with Authlib against the published JWKS, and one
test drives the live server with Authlib's OAuth client as an application would.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.login import backup_codes, totp
from keystead.login.second_step import PASSWORDLESS_PASSKEY
from keystead.policy.models import LogonPolicy, Strategy
from keystead.providers.oidc import sign_in_methods
from keystead.providers.oidc.models import FamilySignIn, IssuedCode
from keystead.providers.saml.authn_context import REFEDS_MFA

from .conftest import PASSWORD
from .helpers import REDIRECT, authorize, basic, exchange, make_app, pkce_pair, refresh

Application = get_application_model()
PASSWORD_AND_TOTP = ["pwd", "otp", "mfa"]


def oathtool(seed: str, at: float) -> str:
    """The code Debian's oathtool computes for ``seed`` at Unix time ``at``."""
    if shutil.which("oathtool") is None:
        pytest.fail("oathtool not found: install Debian's oathtool (make test-deps).")
    return subprocess.run(["oathtool", "--totp", "-N", f"@{int(at)}", "-b", seed],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def seed(person) -> str:
    """The person has an authenticator app (confirmed two time steps ago), so every
    password sign-in must be followed by a code."""
    device = totp.start_enrolment(person, algorithm="SHA1", digits=6)
    secret = totp.seed_of(device).reveal()
    earlier = time.time() - 60
    assert totp.confirm(person, device, oathtool(secret, earlier), now=earlier)
    return secret


def _sign_in(client: Client, path: str = "/login/") -> str:
    """The sign-in page's form with the person's password; where it sends the browser."""
    response = client.post(path, {"username": "grace@example.com", "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def _sign_in_with_totp(client: Client, seed: str, **extra: str) -> None:
    assert _sign_in(client) == "/login/verify/"
    done = client.post("/login/verify/totp", {"code": oathtool(seed, time.time()), **extra})
    assert done.status_code == 302 and done["Location"] == "/", done.content[:300]


def _code_flow(browser: Client, app, secret: str) -> dict:
    verifier, challenge = pkce_pair()
    code = authorize(browser, app, challenge=challenge)["code"]
    response = exchange(Client(), app, secret, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def _verified(id_token: str, app, issuer: str = "http://testserver",
              jwks_document: dict | None = None):
    """The ID token's claims, its signature checked with the JWKS and its standard claims
    validated by Authlib."""
    keys = JsonWebKey.import_key_set(
        jwks_document or Client().get("/.well-known/jwks.json").json())
    claims = JsonWebToken(["RS256"]).decode(id_token, keys, claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": app.client_id}})
    claims.validate()
    return claims


# --------------------------------------------------------------------- pure


@pytest.mark.parametrize(("method", "amr"), [
    (None, ("pwd",)),  # the session's sign-in passed no second factor
    ("totp", ("pwd", "otp", "mfa")),
    ("email", ("pwd", "otp", "mfa")),
    ("backup", ("pwd", "otp", "mfa")),
    ("passkey", ("pwd", "swk", "mfa")),
    (PASSWORDLESS_PASSKEY, ("swk", "mfa")),  # user verification required
    ("", ("mfa",)),  # a session from before methods were noted
])
def test_amr_values(method, amr):
    assert sign_in_methods.amr_for(method) == amr


def test_claims_of_stored_methods():
    assert sign_in_methods.claims("pwd") == {"amr": ["pwd"]}
    assert sign_in_methods.claims("pwd otp mfa") == {"amr": PASSWORD_AND_TOTP,
                                                     "acr": REFEDS_MFA}
    assert sign_in_methods.claims("") == {} and sign_in_methods.claims(None) == {}


# --------------------------------------------------------------------- the code flow


def test_a_password_sign_in_states_pwd_and_no_acr(person):
    browser = Client()
    assert _sign_in(browser) == "/"
    app, secret = make_app()
    claims = _verified(_code_flow(browser, app, secret)["id_token"], app)
    assert claims["amr"] == ["pwd"]
    assert "acr" not in claims


def test_a_totp_sign_in_states_mfa(person, seed):
    browser = Client()
    _sign_in_with_totp(browser, seed)
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser, app, challenge=challenge)["code"]
    body = exchange(Client(), app, secret, code, verifier).json()
    keys = JsonWebKey.import_key_set(Client().get("/.well-known/jwks.json").json())
    # Authlib's OpenID Connect checks of a code-flow ID token (nonce, at_hash, aud, iss).
    claims = JsonWebToken(["RS256"]).decode(
        body["id_token"], keys, claims_cls=CodeIDToken,
        claims_options={"iss": {"value": "http://testserver"}},
        claims_params={"nonce": "n-0S6", "client_id": app.client_id,
                       "access_token": body["access_token"]})
    claims.validate()
    assert claims["amr"] == PASSWORD_AND_TOTP
    assert claims["acr"] == REFEDS_MFA
    # Kept with the family, for its refreshes.
    assert list(FamilySignIn.objects.values_list("amr", flat=True)) == ["pwd otp mfa"]
    assert list(IssuedCode.objects.values_list("amr", flat=True)) == ["pwd otp mfa"]


def test_backup_codes_count_as_one_time_passwords(person):
    """Backup codes are one-time passwords the person holds: ``otp`` (RFC 8176 has no
    closer value)."""
    codes = [c.reveal() for c in backup_codes.generate(person)]
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})
    browser = Client()
    assert _sign_in(browser) == "/login/verify/"
    assert browser.post("/login/verify/backup", {"code": codes[0]}).status_code == 302
    app, secret = make_app()
    claims = _verified(_code_flow(browser, app, secret)["id_token"], app)
    assert claims["amr"] == PASSWORD_AND_TOTP and claims["acr"] == REFEDS_MFA


def test_a_refresh_states_the_original_sign_in_after_a_later_password_only_one(
        person, seed):
    """The family was started after a TOTP sign-in; the same browser then signs in again
    with the password alone (a remembered browser skips the factor). A new code gets
    ``["pwd"]``; a refresh of the first family still states the TOTP sign-in."""
    LogonPolicy.objects.update_or_create(pk=1, defaults={"remember_days": 30})
    browser = Client()
    _sign_in_with_totp(browser, seed, remember="on")
    app, secret = make_app()
    first = _code_flow(browser, app, secret)
    assert _verified(first["id_token"], app)["amr"] == PASSWORD_AND_TOTP

    # prompt=login: the sign-in page again, the password, no factor asked (remembered).
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT,
              "scope": "openid", "state": "s", "nonce": "n", "prompt": "login",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    to_sign_in = browser.get("/oauth/authorize/?" + urlencode(params))
    assert to_sign_in.status_code == 302 and "/login/" in to_sign_in["Location"]
    back = _sign_in(browser, to_sign_in["Location"])
    assert back.startswith("/oauth/authorize/"), back  # no second factor asked
    with_code = browser.get(back)
    assert with_code["Location"].startswith(REDIRECT + "?"), with_code["Location"]

    later = _code_flow(browser, app, secret)
    later_claims = _verified(later["id_token"], app)
    assert later_claims["amr"] == ["pwd"] and "acr" not in later_claims

    refreshed = refresh(app, secret, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    claims = _verified(refreshed.json()["id_token"], app)
    assert claims["amr"] == PASSWORD_AND_TOTP and claims["acr"] == REFEDS_MFA
    # And the password-only family stays password-only on refresh.
    again = _verified(refresh(app, secret, later["refresh_token"]).json()["id_token"], app)
    assert again["amr"] == ["pwd"] and "acr" not in again


def test_a_family_from_before_states_no_methods(browser_client):
    app, secret = make_app()
    tokens = _code_flow(browser_client, app, secret)
    FamilySignIn.objects.update(amr="")  # as families started before the column
    claims = _verified(refresh(app, secret, tokens["refresh_token"]).json()["id_token"], app)
    assert "amr" not in claims and "acr" not in claims


def test_the_password_grants_family_states_pwd_on_refresh(person):
    """The password grant's answer has no ID token; its family's refreshes do, and that
    sign-in was a password alone (one that needs a second factor is refused)."""
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = Client().post("/oauth/token/", {"grant_type": "password",
                                               "username": person.email,
                                               "password": PASSWORD, "scope": "openid"},
                             **basic(app, secret))
    assert response.status_code == 200, response.content
    refreshed = refresh(app, secret, response.json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    claims = _verified(refreshed.json()["id_token"], app)
    assert claims["amr"] == ["pwd"] and "acr" not in claims


def test_discovery_lists_acr_and_amr(db):
    doc = Client().get("/.well-known/openid-configuration").json()
    assert doc["acr_values_supported"] == [REFEDS_MFA]
    assert {"acr", "amr", "sub", "email"} <= set(doc["claims_supported"])


# --------------------------------------------------------------------- an independent client


@pytest.mark.django_db(transaction=True)
def test_an_authlib_client_reads_mfa_at_the_exchange_and_each_refresh(
        live_server, settings, person, seed):
    """Authlib, configured from the discovery document: the code exchange and a refresh
    over real HTTP, each ID token verified with the advertised JWKS."""
    settings.BASE_URL = live_server.url
    browser = Client()
    _sign_in_with_totp(browser, seed)
    app, secret = make_app()
    doc = httpx.get(f"{live_server.url}/.well-known/openid-configuration", timeout=30).json()
    jwks = httpx.get(doc["jwks_uri"], timeout=30).json()
    verifier, _ = pkce_pair()
    with OAuth2Client(app.client_id, secret, redirect_uri=REDIRECT, scope="openid email",
                      code_challenge_method="S256", timeout=30) as rp:
        url, _ = rp.create_authorization_url(doc["authorization_endpoint"],
                                             code_verifier=verifier, nonce="n-1")
        parts = urlsplit(url)
        answer = browser.get(f"{parts.path}?{parts.query}")
        assert answer.status_code == 302 and "code" in parse_qs(
            urlsplit(answer["Location"]).query), answer.get("Location")
        token = rp.fetch_token(doc["token_endpoint"], authorization_response=answer["Location"],
                               code_verifier=verifier)
        claims = _verified(token["id_token"], app, doc["issuer"], jwks)
        assert claims["amr"] == PASSWORD_AND_TOTP and claims["acr"] == REFEDS_MFA
        renewed = rp.refresh_token(doc["token_endpoint"], refresh_token=token["refresh_token"])
        claims = _verified(renewed["id_token"], app, doc["issuer"], jwks)
        assert claims["amr"] == PASSWORD_AND_TOTP and claims["acr"] == REFEDS_MFA
        assert claims["auth_time"] == _verified(token["id_token"], app, doc["issuer"],
                                                jwks)["auth_time"]
