"""/api/v1/clients: register, read, change and delete OpenID Connect applications."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Outcome
from keystead.providers.oidc.clients import redirect_uri_problem

from .helpers import basic

Application = get_application_model()
URL = "/api/v1/clients"
WEB = {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/oidc/callback"]}


@pytest.fixture
def clients_api(api_with):
    return api_with("clients:write")


def test_register_a_confidential_client_secret_shown_once_and_stored_hashed(clients_api):
    response = clients_api.post(URL, WEB)
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["client_secret"]
    assert secret and body["client_type"] == "confidential"
    assert body["grant_type"] == "authorization-code"
    assert body["redirect_uris"] == WEB["redirect_uris"]
    assert body["id_token_algorithm"] == "RS256" and body["skip_consent"] is False
    app = Application.objects.get(client_id=body["client_id"])
    assert app.client_secret != secret and check_password(secret, app.client_secret)
    again = clients_api.get(f"{URL}/{app.client_id}").json()
    assert "client_secret" not in again
    listed = clients_api.get(URL).json()
    assert listed["count"] == len(listed["items"]) >= 1
    assert all("client_secret" not in c for c in listed["items"])
    event = Event.objects.get(action="oidc.client_registered")
    assert event.detail["client_id"] == app.client_id
    assert secret not in str(event.detail)


def test_registered_client_credentials_client_gets_a_token(clients_api):
    body = clients_api.post(URL, {"name": "Reporter", "grant_type": "client-credentials"}).json()
    app = Application.objects.get(client_id=body["client_id"])
    response = Client().post("/oauth/token/", {"grant_type": "client_credentials"},
                             **basic(app, body["client_secret"]))
    assert response.status_code == 200, response.content


def test_public_client_has_no_secret_and_only_the_code_grant(clients_api):
    created = clients_api.post(URL, {**WEB, "client_type": "public",
                                     "redirect_uris": ["http://127.0.0.1:8765/callback"]})
    assert created.status_code == 201, created.content
    assert created.json()["client_secret"] is None
    refused = clients_api.post(URL, {"name": "CLI", "client_type": "public",
                                     "grant_type": "password"})
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["grant_type"]


@pytest.mark.parametrize(("uri", "words"), [
    ("http://wiki.example.com/cb", "https"),
    ("https://wiki.example.com/cb#frag", "fragment"),
    ("https://*.example.com/cb", "wildcard"),
    ("/relative/cb", "absolute"),
    ("ftp://wiki.example.com/cb", "absolute"),
    ("https://user:pw@wiki.example.com/cb", "user name"),
    ("https://wiki.example.com:99999/cb", "not a valid"),
    ("https://a b.example.com/", "spaces"),
])
def test_bad_redirect_uris_are_refused_naming_the_field(clients_api, uri, words):
    response = clients_api.post(URL, {**WEB, "redirect_uris": ["https://ok.example.com/", uri]})
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert errors[0]["field"] == "redirect_uris.1"
    assert words in errors[0]["message"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("uri", ["http://localhost:8080/cb", "http://127.0.0.1/cb",
                                 "http://[::1]:9000/cb", "https://app.example.com/cb?x=1"])
def test_accepted_redirect_uris(uri):
    assert redirect_uri_problem(uri) is None


def test_code_grant_needs_a_redirect_uri(clients_api):
    response = clients_api.post(URL, {"name": "Wiki"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "redirect_uris"


def test_patch_changes_name_uris_and_token_settings(clients_api):
    client_id = clients_api.post(URL, WEB).json()["client_id"]
    response = clients_api.patch(f"{URL}/{client_id}", {
        "name": "Wiki 2", "redirect_uris": ["https://wiki.example.com/new"],
        "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
        "id_token_algorithm": "ES256", "access_token_seconds": 300,
        "rotate_refresh_tokens": False})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Wiki 2"
    assert body["redirect_uris"] == ["https://wiki.example.com/new"]
    assert body["post_logout_redirect_uris"] == ["https://wiki.example.com/bye"]
    assert body["id_token_algorithm"] == "ES256" and body["access_token_seconds"] == 300
    assert body["rotate_refresh_tokens"] is False and body["issue_refresh_tokens"] is True
    bad = clients_api.patch(f"{URL}/{client_id}", {"redirect_uris": ["http://evil.example/"]})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "redirect_uris.0"
    assert clients_api.get(f"{URL}/{client_id}").json()["redirect_uris"] == [
        "https://wiki.example.com/new"]
    assert Event.objects.filter(action="oidc.client_changed").count() == 1


def test_delete_and_unknown_ids(clients_api):
    client_id = clients_api.post(URL, WEB).json()["client_id"]
    assert clients_api.delete(f"{URL}/{client_id}").status_code == 204
    assert clients_api.get(f"{URL}/{client_id}").status_code == 404
    assert clients_api.delete(f"{URL}/{client_id}").status_code == 404
    assert Event.objects.filter(action="oidc.client_deleted").count() == 1


def test_scopes(api_with):
    reader = api_with("clients:read")
    assert reader.get(URL).status_code == 200
    refused = reader.post(URL, WEB)
    assert refused.status_code == 403
    assert "clients:write" in refused.json()["detail"]
    assert api_with("users:read").get(URL).status_code == 403


def test_each_change_to_an_application_needs_the_console_s_permission(person_with,
                                                                       api_for_token):
    """Registering, changing and deleting each need the permission the console asks for,
    decided by the clients service for every door; each refusal is audited."""
    registrar = person_with("registrar@example.com", "oauth2_provider.view_application",
                            "oauth2_provider.add_application")
    _, clear = issue_token(name="apps", scopes=["clients:write"], owner=registrar,
                           actor=OPERATOR, door="test")
    api = api_for_token(clear.reveal())
    created = api.post(URL, WEB)
    assert created.status_code == 201, created.content
    client_id = created.json()["client_id"]
    changed = api.patch(f"{URL}/{client_id}", {"name": "Renamed"})
    assert changed.status_code == 403
    assert "oauth2_provider.change_application" in changed.json()["detail"]
    deleted = api.delete(f"{URL}/{client_id}")
    assert deleted.status_code == 403
    assert "oauth2_provider.delete_application" in deleted.json()["detail"]
    assert Application.objects.get(client_id=client_id).name == "Wiki"

    viewer = person_with("viewer@example.com", "oauth2_provider.view_application")
    _, clear = issue_token(name="look", scopes=["clients:write"], owner=viewer,
                           actor=OPERATOR, door="test")
    assert api_for_token(clear.reveal()).post(URL, {**WEB, "name": "Blog"}).status_code == 403
    assert not Application.objects.filter(name="Blog").exists()
    refusals = Event.objects.filter(outcome=Outcome.DENIED, action__startswith="oidc.")
    assert sorted((e.action, e.actor_label.split(" (token")[0]) for e in refusals) == [
        ("oidc.client_changed", "registrar@example.com"),
        ("oidc.client_deleted", "registrar@example.com"),
        ("oidc.client_registered", "viewer@example.com")]
