"""HTTP Basic naming one client and a body ``client_id`` naming another (RFC 6749 §2.3:
one authentication method per request) is ``400 invalid_request`` at the token,
revocation and introspection endpoints, audited, and spends nothing; the same id in
both places is accepted.

Django's test client for each endpoint and grant; Authlib, an independent client,
for the same request as a client library sends it.
"""

from __future__ import annotations

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event

from .helpers import (
    authorize,
    basic,
    client_credentials,
    code_tokens,
    exchange,
    make_app,
    pkce_pair,
    refresh,
)

Application = get_application_model()


def _refused(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "client_id" in body["error_description"]
    assert "access_token" not in body and "active" not in body
    return body


def _other():
    return make_app(name="Another application")[0]


# --- the token endpoint: every grant -----------------------------------------------------

def test_the_refresh_grant_refuses_another_client_id_and_spends_nothing(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    _refused(refresh(app, secret, tokens["refresh_token"], client_id=_other().client_id))
    event = Event.objects.filter(action="oidc.token_refused").latest("pk")
    assert event.actor_label == f"client {app.client_id}"
    assert event.detail["grant_type"] == "refresh_token"
    assert event.detail["error"] == "invalid_request"
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200  # not rotated


def test_the_client_credentials_grant_refuses_another_client_id(db):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    _refused(client_credentials(app, secret, client_id=_other().client_id))
    event = Event.objects.get(action="oidc.token_refused")
    assert event.detail["grant_type"] == "client_credentials"
    assert event.detail["error"] == "invalid_request"
    assert not Event.objects.filter(action="oidc.token_issued").exists()


def test_the_code_grant_refuses_another_client_id_and_the_code_stays_unspent(browser_client):
    app, secret = make_app()
    other = _other()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": "https://rp.example.com/callback", "client_id": other.client_id}
    _refused(Client().post("/oauth/token/", data, **basic(app, secret)))
    event = Event.objects.filter(action="oidc.token_refused").latest("pk")
    assert event.detail["grant_type"] == "authorization_code"
    assert event.detail["error"] == "invalid_request"
    assert exchange(Client(), app, secret, code, verifier).status_code == 200


def test_the_password_grant_refuses_another_client_id(person):
    from .conftest import PASSWORD

    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = Client().post("/oauth/token/", {
        "grant_type": "password", "username": person.email, "password": PASSWORD,
        "client_id": _other().client_id}, **basic(app, secret))
    _refused(response)
    assert PASSWORD not in response.content.decode()


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token"])
def test_the_same_client_id_in_both_places_is_accepted(browser_client, grant):
    if grant == "client_credentials":
        app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
        response = client_credentials(app, secret, client_id=app.client_id)
    else:
        app, secret = make_app()
        tokens = code_tokens(browser_client, app, secret)
        response = refresh(app, secret, tokens["refresh_token"], client_id=app.client_id)
    assert response.status_code == 200, response.content
    assert "access_token" in response.json()


def test_a_wrong_secret_with_another_client_id_gives_no_hint_about_the_secret(db):
    """The conflict is decided before any client is looked up or secret checked: the
    answer is the same whether the Basic secret is right or wrong."""
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    other = _other()
    with CaptureQueriesContext(connection) as queries:
        right = client_credentials(app, secret, client_id=other.client_id)
    wrong = client_credentials(app, "wrong", client_id=other.client_id)
    assert _refused(right) == _refused(wrong)
    assert not [q for q in queries if Application._meta.db_table in q["sql"]]


# --- revocation and introspection ------------------------------------------------------

def test_revocation_refuses_another_client_id_and_revokes_nothing(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    response = Client().post("/oauth/revoke_token/", {
        "token": tokens["refresh_token"], "client_id": _other().client_id},
        **basic(app, secret))
    _refused(response)
    event = Event.objects.get(action="oidc.revocation_refused")
    assert event.actor_label == f"client {app.client_id}"
    assert event.detail["error"] == "invalid_request"
    assert tokens["refresh_token"] not in str(event.detail)
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200  # still live


def test_revocation_with_the_same_client_id_in_both_places_revokes(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    response = Client().post("/oauth/revoke_token/", {
        "token": tokens["refresh_token"], "client_id": app.client_id}, **basic(app, secret))
    assert response.status_code == 200
    assert refresh(app, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_introspection_refuses_another_client_id(browser_client):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    resource, resource_secret = make_app(name="Resource server")
    response = Client().post("/oauth/introspect/", {
        "token": token, "client_id": app.client_id}, **basic(resource, resource_secret))
    _refused(response)
    event = Event.objects.get(action="oidc.introspection_refused")
    assert event.actor_label == f"client {resource.client_id}"
    assert "client_id" in event.detail["reason"]
    same = Client().post("/oauth/introspect/", {
        "token": token, "client_id": resource.client_id}, **basic(resource, resource_secret))
    assert same.json()["active"] is True


# --- the same, from an independent client over real HTTP -------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_authlib_client_naming_another_client_id_is_refused(live_server, settings):
    settings.BASE_URL = live_server.url
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    other = _other()
    doc = httpx.get(f"{live_server.url}/.well-known/openid-configuration", timeout=30).json()
    with OAuth2Client(app.client_id, secret, token_endpoint_auth_method="client_secret_basic",
                      timeout=30) as rp:
        with pytest.raises(OAuthError) as refused:
            rp.fetch_token(doc["token_endpoint"], grant_type="client_credentials",
                           client_id=other.client_id)
        assert refused.value.error == "invalid_request"
        assert "client_id" in refused.value.description
        token = rp.fetch_token(doc["token_endpoint"], grant_type="client_credentials",
                               client_id=app.client_id)  # the same id twice: fine
        for ask, endpoint in ((rp.revoke_token, "revocation_endpoint"),
                              (rp.introspect_token, "introspection_endpoint")):
            answer = ask(doc[endpoint], token=token["access_token"],
                         body=f"client_id={other.client_id}")
            assert answer.status_code == 400, endpoint
            assert answer.json()["error"] == "invalid_request"
        active = rp.introspect_token(doc["introspection_endpoint"], token=token["access_token"])
        assert active.json()["active"] is True  # the refused revocation revoked nothing
