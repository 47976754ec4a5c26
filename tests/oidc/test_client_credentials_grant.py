"""The client-credentials grant (Keystead's own, ``client_credentials_grant``)."""

from __future__ import annotations

import hashlib

import pytest
from oauth2_provider.models import AccessToken, get_application_model

from keystead.directory.models import Event

from .helpers import client_credentials, make_app

Application = get_application_model()
pytestmark = pytest.mark.smoke  # also on SQLite


def test_the_token_is_for_no_person_stored_hashed_and_audited(db):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    answer = client_credentials(app, secret)
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert body["scope"] == "openid" and body["token_type"] == "Bearer"
    stored = AccessToken.objects.get(
        token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest())
    assert stored.user is None and stored.token == "" and stored.application == app
    event = Event.objects.get(action="oidc.token_issued")
    assert event.actor is None and event.actor_label == f"client {app.client_id}"
    assert event.target_id == str(app.pk) and event.detail["grant_type"] == "client_credentials"
    assert body["access_token"] not in str(event.detail)


def test_a_requested_scope_is_granted_if_keystead_offers_it(db):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    granted = client_credentials(app, secret, scope="email groups email")
    assert granted.json()["scope"] == "email groups"
    unknown = client_credentials(app, secret, scope="email admin:everything")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_scope"
    assert "admin:everything" not in unknown.json()["error_description"]
    assert unknown.json()["error_description"].startswith("Unknown scope; Keystead offers: ")
    refused = Event.objects.get(action="oidc.token_refused")
    assert refused.detail["grant_type"] == "client_credentials"
    assert refused.detail["error"] == "invalid_scope"
    assert refused.detail["error_description"].startswith("Unknown scope")


def test_an_application_without_the_grant_is_unauthorized_client(db):
    app, secret = make_app()  # authorization code only
    answer = client_credentials(app, secret)
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"
    assert not AccessToken.objects.exists()


def test_wrong_credentials_are_invalid_client(db):
    app, _ = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    answer = client_credentials(app, "wrong")
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


def test_a_replaced_secret_stops_working_at_once(db):
    """A secret reset in the console takes effect on the next request."""
    app, old_secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    assert client_credentials(app, old_secret).status_code == 200
    assert client_credentials(app, old_secret).status_code == 200  # the remembered match
    app.client_secret = "a-new-secret-" + "x" * 40
    app.save()  # hashed on save, as a secret reset in the console does
    assert client_credentials(app, old_secret).status_code == 401
    assert client_credentials(app, "a-new-secret-" + "x" * 40).status_code == 200
    assert client_credentials(app, "a-new-secret-" + "x" * 39).status_code == 401


def test_the_secrets_in_the_body_are_hidden_from_error_reports(db):
    """Every secret the body can carry is marked sensitive for Django's error reports, not
    only the two the toolkit marks."""
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    answer = client_credentials(app, secret)
    assert answer.status_code == 200
    hidden = answer.wsgi_request.sensitive_post_parameters
    assert {"client_secret", "refresh_token", "password"} <= set(hidden)
