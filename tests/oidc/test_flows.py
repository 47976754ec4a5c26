"""Code + PKCE with Django's test client: the happy path, then each refusal's RFC 6749 code."""

from __future__ import annotations

import time_machine
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event

from .helpers import authorize, exchange, make_app, pkce_pair, refresh, token_request

Application = get_application_model()


def test_code_flow_issues_tokens_and_audits_without_the_token(browser_client, person):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    query = authorize(browser_client, app, challenge=challenge)
    assert query["state"] == "xyz"
    response = exchange(Client(), app, secret, query["code"], verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= body.keys()
    event = Event.objects.get(action="oidc.token_issued")
    assert event.actor == person
    assert body["access_token"] not in str(event.detail)
    assert event.detail["client_id"] == app.client_id


def test_wrong_redirect_uri_is_not_followed(browser_client):
    app, _ = make_app()
    _, challenge = pkce_pair()
    response = browser_client.get("/oauth/authorize/", {
        "response_type": "code", "client_id": app.client_id, "scope": "openid",
        "redirect_uri": "https://evil.example.com/callback",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    # RFC 6749 §4.1.2.1: never redirect to an unregistered URI; tell the person instead.
    assert response.status_code == 400
    assert b"evil.example.com" not in response.get("Location", "").encode()
    assert b"invalid_request" in response.content


def test_redirect_uri_differs_at_token_endpoint(browser_client):
    # RFC 6749 §5.2 names invalid_grant for this case (oauthlib says invalid_request;
    # Keystead's token view corrects it).
    app, secret = make_app(redirect="https://rp.example.com/callback https://rp.example.com/b")
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    response = exchange(Client(), app, secret, code, verifier, redirect="https://rp.example.com/b")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_pkce_is_refused(browser_client):
    app, _ = make_app()
    query = authorize(browser_client, app, challenge=None)
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_plain_pkce_method_is_refused(browser_client):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", {
        "response_type": "code", "client_id": app.client_id, "scope": "openid",
        "redirect_uri": app.redirect_uris, "code_challenge": "x" * 43,
        "code_challenge_method": "plain"})
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]


def test_missing_and_wrong_verifier_are_refused(browser_client):
    app, secret = make_app()
    _, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    other_verifier, _ = pkce_pair()
    response = exchange(Client(), app, secret, code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"

    code = authorize(browser_client, app, challenge=challenge)["code"]
    response = exchange(Client(), app, secret, code, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"  # a required parameter is missing


def test_code_reuse_is_refused(browser_client):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    assert exchange(Client(), app, secret, code, verifier).status_code == 200
    again = exchange(Client(), app, secret, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    refused = Event.objects.filter(action="oidc.token_refused").latest("pk")
    assert refused.outcome == "denied"
    assert refused.detail["error"] == "invalid_grant"
    assert code not in str(refused.detail)


def test_expired_code_is_refused(browser_client):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    with _later(seconds=61):
        response = exchange(Client(), app, secret, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def _later(seconds: int):
    import datetime

    from django.utils import timezone
    return time_machine.travel(timezone.now() + datetime.timedelta(seconds=seconds), tick=True)


def test_public_client_cannot_use_client_credentials(db):
    app, _ = make_app(public=True)
    response = Client().post("/oauth/token/", {"grant_type": "client_credentials",
                                               "client_id": app.client_id})
    # A public client has no credentials to authenticate with (RFC 6749 §5.2).
    assert response.status_code in {400, 401}
    assert response.json()["error"] == "unauthorized_client"


def test_password_grant_needs_a_client_allowed_to_use_it(person):
    from .conftest import PASSWORD

    app, secret = make_app()
    response = token_request(app, secret, grant_type="password", username=person.email,
                             password=PASSWORD, scope="openid")
    assert response.status_code in {400, 401}
    assert response.json()["error"] == "unauthorized_client"
    assert Event.objects.filter(action="oidc.token_issued").count() == 0


def test_wrong_client_secret_is_invalid_client(browser_client):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    response = exchange(Client(), app, secret + "x", code, verifier)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_per_client_token_settings(browser_client):
    from keystead.providers.oidc.models import ClientSettings

    app, secret = make_app()
    ClientSettings.objects.create(application=app, access_token_seconds=120,
                                  refresh_token_seconds=60)
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    body = exchange(Client(), app, secret, code, verifier).json()
    assert body["expires_in"] == 120
    assert refresh(app, secret, body["refresh_token"]).status_code == 200
    rotated = refresh(app, secret, body["refresh_token"])  # reuse: family revoked
    assert rotated.json()["error"] == "invalid_grant"

    code = authorize(browser_client, app, challenge=challenge)["code"]
    body = exchange(Client(), app, secret, code, verifier).json()
    with _later(seconds=120 + 61):  # access token expired 61 s ago; refresh lives 60 s more
        assert refresh(app, secret, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_client_without_refresh_tokens(browser_client):
    from keystead.providers.oidc.models import ClientSettings

    app, secret = make_app()
    ClientSettings.objects.create(application=app, issue_refresh_tokens=False)
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    body = exchange(Client(), app, secret, code, verifier).json()
    assert "access_token" in body and "refresh_token" not in body
