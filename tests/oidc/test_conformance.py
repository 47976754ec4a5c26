"""Conformance points found in review: each test names the clause it holds Keystead to.

Django's test client for the single answers; the last tests drive the live server with
an independent client (Authlib), as an application would, from the discovery document.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event

from .helpers import (
    REDIRECT,
    authorize_params,
    basic,
    client_credentials,
    code_tokens,
    make_app,
    refresh,
)

Application = get_application_model()
FORM = "application/x-www-form-urlencoded"


def _redirect_query(response) -> dict:
    assert response.status_code == 302, response.content[:300]
    assert response["Location"].startswith(REDIRECT + "?"), response["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


# --- userinfo (OpenID Connect Core §5.3.3, RFC 6750 §3.1) -------------------------------

def test_userinfo_refuses_a_token_that_names_no_person(db):
    """The client-credentials grant's token carries ``openid`` (the default scope) but no
    person: userinfo answers invalid_token, not a server error."""
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials(app, secret).json()
    assert token["scope"] == "openid"
    response = Client().get("/oauth/userinfo/",
                            HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_userinfo_errors_say_they_are_json(db):
    response = Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_token"


def test_userinfo_with_a_token_without_openid_is_insufficient_scope(browser_client):
    """RFC 6750 §3.1: a valid token short of the needed scope is 403 insufficient_scope,
    not 401 invalid_token (which tells the application its token is bad)."""
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret, scope="email")["access_token"]
    response = Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert response.json()["error"] == "insufficient_scope"
    # The token itself is fine: introspection says so.
    answer = Client().post("/oauth/introspect/", {"token": token}, **basic(app, secret))
    assert answer.json()["active"] is True


# --- the token endpoint: parameters once (RFC 6749 §3.2), challenges (§5.2) --------------

def test_a_repeated_refresh_token_is_refused_and_spends_nothing(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    body = urlencode([("grant_type", "refresh_token"), ("refresh_token", "guessed"),
                      ("refresh_token", tokens["refresh_token"])])
    response = Client().post("/oauth/token/", body, content_type=FORM, **basic(app, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "refresh_token" in response.json()["error_description"]
    assert response["Cache-Control"] == "no-store"
    refused = Event.objects.filter(action="oidc.token_refused").latest("pk")
    assert refused.detail["error"] == "invalid_request"
    # Nothing was exchanged or revoked: the token still works once.
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("pairs", [
    # A second grant_type would pick another grant (Django keeps the last value).
    [("grant_type", "authorization_code"), ("grant_type", "client_credentials")],
    [("grant_type", "client_credentials"), ("scope", "openid"), ("scope", "email")],
    [("grant_type", "authorization_code"), ("code", "a"), ("code", "b"),
     ("redirect_uri", REDIRECT), ("code_verifier", "v" * 43)],
], ids=["grant_type", "scope", "code"])
def test_repeated_parameters_are_invalid_request(db, pairs):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    response = Client().post("/oauth/token/", urlencode(pairs), content_type=FORM,
                             **basic(app, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "access_token" not in response.json()


@pytest.mark.parametrize("grant_type", ["refresh_token", "client_credentials",
                                        "authorization_code"])
def test_a_basic_header_that_does_not_decode_gets_a_basic_challenge(db, grant_type):
    """The client tried HTTP Basic, so the 401 names Basic, whichever grant answers."""
    response = Client().post("/oauth/token/", {"grant_type": grant_type, "refresh_token": "x",
                                               "code": "x"},
                             HTTP_AUTHORIZATION="Basic %%%not-base64")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_revocation_with_a_failed_basic_names_basic(browser_client):
    """RFC 7009 §2.2.1 answers invalid_client as RFC 6749 §5.2 does."""
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    response = Client().post("/oauth/revoke_token/", {"token": tokens["refresh_token"]},
                             **basic(app, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


# --- introspection (RFC 7662 §2.3) -------------------------------------------------------

@pytest.fixture
def live_token(browser_client):
    app, secret = make_app()
    return code_tokens(browser_client, app, secret)["access_token"]


def _introspect(**kwargs):
    return Client().post("/oauth/introspect/", kwargs.pop("data"), **kwargs)


def test_introspection_with_wrong_client_credentials_is_401(live_token):
    resource, resource_secret = make_app(name="Resource server")
    by_basic = _introspect(data={"token": live_token}, **basic(resource, "wrong"))
    assert by_basic.status_code == 401
    assert by_basic.json() == {"error": "invalid_client"}
    assert by_basic["WWW-Authenticate"].startswith("Basic")
    in_body = _introspect(data={"token": live_token, "client_id": resource.client_id,
                                "client_secret": "wrong"})
    assert in_body.status_code == 401 and in_body.json() == {"error": "invalid_client"}
    unknown = _introspect(data={"token": live_token, "client_id": "nobody",
                                "client_secret": "x"})
    assert unknown.status_code == 401 and unknown.json() == {"error": "invalid_client"}
    assert _introspect(data={"token": live_token}, **basic(
        resource, resource_secret)).json()["active"] is True


def test_introspection_without_any_credentials_is_401(live_token):
    response = _introspect(data={"token": live_token})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert b"active" not in response.content


def test_introspection_with_a_bearer_token_answers_as_rfc_6750(live_token):
    invalid = _introspect(data={"token": live_token}, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert invalid.status_code == 401
    assert invalid["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    # A live token without the introspection scope: valid, but not enough.
    no_scope = _introspect(data={"token": live_token},
                           HTTP_AUTHORIZATION=f"Bearer {live_token}")
    assert no_scope.status_code == 403
    assert no_scope["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert b"active" not in no_scope.content


def test_introspection_by_a_public_client_stays_403(live_token):
    public, _ = make_app(public=True, name="Public")
    response = _introspect(data={"token": live_token, "client_id": public.client_id})
    assert response.status_code == 403
    assert b"active" not in response.content


# --- the authorization request (OpenID Connect Core §3.1.2, §6) --------------------------

@pytest.mark.parametrize(("name", "error"), [("request", "request_not_supported"),
                                             ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_not_ignored(browser_client, name, error):
    """§6.1/§6.2: an OP without request-object support MUST answer with this error; the
    parameters inside the object would otherwise be silently replaced by the outer ones."""
    app, _ = make_app()
    value = ("eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCBlbWFpbCJ9." if name == "request"
             else "https://rp.example.com/request.jwt")
    query = _redirect_query(browser_client.get(
        "/oauth/authorize/", authorize_params(app, **{name: value})))
    assert query["error"] == error
    assert query["state"] == "st"
    assert "code" not in query


def test_a_request_object_with_a_foreign_redirect_is_not_redirected(browser_client):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", authorize_params(
        app, request="x.y.", redirect_uri="https://evil.example.com/cb"))
    assert response.status_code == 400
    assert "evil.example.com" not in response.get("Location", "")


@pytest.mark.parametrize(("name", "value"), [
    *(("max_age", v) for v in ["abc", "-1", "1.5", "\uff11\uff12"]),
    *(("code_challenge", v) for v in ["abc", "A" * 42, "A" * 44, "A" * 42 + "=",
                                      "A" * 42 + "+", "A" * 128]),
])
def test_a_malformed_parameter_is_invalid_request(browser_client, name, value):
    """Sent back to the application at once, with ``state``, not ignored: ``max_age`` is a
    number of seconds (OpenID Connect Core §3.1.2.1; ignoring it would issue a code
    without the fresh sign-in asked for), and an S256 ``code_challenge`` is 43 characters
    of base64url (RFC 7636 §4.2; no verifier matches anything else, so the code would be
    refused after the person had signed in and approved for nothing)."""
    app, _ = make_app()
    query = _redirect_query(browser_client.get(
        "/oauth/authorize/", authorize_params(app, **{name: value})))
    assert query["error"] == "invalid_request"
    assert name in query["error_description"]
    assert query["state"] == "st"


def test_an_empty_max_age_counts_as_omitted(browser_client):
    app, _ = make_app()
    query = _redirect_query(browser_client.get(
        "/oauth/authorize/", authorize_params(app, max_age="")))
    assert "code" in query


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token",
                                           "code id_token", "code token"])
def test_response_types_other_than_code_are_unsupported(browser_client, response_type):
    """RFC 6749 §4.1.2.1: a response type the server does not offer at all is
    unsupported_response_type (not unauthorized_client, which suggests registering
    differently would help); discovery lists only ``code``."""
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/",
                                  authorize_params(app, response_type=response_type))
    assert response.status_code == 302
    answer = urlsplit(response["Location"])
    query = {k: v[0] for k, v in parse_qs(answer.query or answer.fragment).items()}
    assert query["error"] == "unsupported_response_type"
    assert query["state"] == "st"
    assert not {"code", "access_token", "id_token"} & query.keys()


@pytest.mark.parametrize("response_type", ["token", "code id_token"])
def test_an_unsupported_response_type_to_a_foreign_redirect_is_not_redirected(
        browser_client, response_type):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", authorize_params(
        app, response_type=response_type, redirect_uri="https://evil.example.com/cb"))
    assert response.status_code == 400
    assert "evil.example.com" not in response.get("Location", "")


# --- discovery (OpenID Connect Discovery §3, RFC 8414 §2) --------------------------------

def test_discovery_says_what_the_endpoints_do(db):
    doc = Client().get("/.well-known/openid-configuration").json()
    # Omitted, request_uri_parameter_supported would mean true.
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    # Public clients authenticate with their id alone.
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "none"}
    assert doc["revocation_endpoint"] == "http://testserver/oauth/revoke_token/"
    assert doc["introspection_endpoint"] == "http://testserver/oauth/introspect/"


def test_discovery_endpoints_follow_a_pinned_issuer(db, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER,
                                "OIDC_ISS_ENDPOINT": "https://id.example.com"}
    doc = Client().get("/.well-known/openid-configuration").json()
    assert doc["revocation_endpoint"] == "https://id.example.com/oauth/revoke_token/"
    assert doc["introspection_endpoint"] == "https://id.example.com/oauth/introspect/"


# --- the same, through an independent client over real HTTP ------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_authlib_client_uses_the_advertised_endpoints(live_server, settings):
    """Authlib, configured from the discovery document only: client credentials, then
    introspection and revocation at the advertised addresses; a wrong secret at
    revocation is a Basic challenge; the application's own token at userinfo is
    invalid_token."""
    settings.BASE_URL = live_server.url
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    doc = httpx.get(f"{live_server.url}/.well-known/openid-configuration", timeout=30).json()
    with OAuth2Client(app.client_id, secret, token_endpoint_auth_method="client_secret_basic",
                      timeout=30) as rp:
        token = rp.fetch_token(doc["token_endpoint"], grant_type="client_credentials")
        active = rp.introspect_token(doc["introspection_endpoint"], token=token["access_token"])
        assert active.status_code == 200 and active.json()["active"] is True
        userinfo = rp.get(doc["userinfo_endpoint"])
        assert userinfo.status_code == 401
        assert 'error="invalid_token"' in userinfo.headers["WWW-Authenticate"]
        assert rp.revoke_token(doc["revocation_endpoint"],
                               token=token["access_token"]).status_code == 200
        gone = rp.introspect_token(doc["introspection_endpoint"], token=token["access_token"])
        assert gone.json() == {"active": False}
    with OAuth2Client(app.client_id, "wrong", token_endpoint_auth_method="client_secret_basic",
                      timeout=30) as impostor:
        refused = impostor.revoke_token(doc["revocation_endpoint"], token="anything")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
        refused = impostor.introspect_token(doc["introspection_endpoint"], token="anything")
        assert refused.status_code == 401 and refused.json() == {"error": "invalid_client"}

