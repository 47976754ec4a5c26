"""The password grant, for a client registered for it, signs in as the portal does."""

from __future__ import annotations

from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event

from .conftest import PASSWORD
from .helpers import basic, make_app

Application = get_application_model()


def _grant(app, secret, username, password):
    return Client().post("/oauth/token/", {"grant_type": "password", "username": username,
                                           "password": password, "scope": "openid"},
                         **basic(app, secret))


def test_allowed_client_gets_tokens(person):
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = _grant(app, secret, person.email, PASSWORD)
    assert response.status_code == 200, response.content
    assert "access_token" in response.json()


def test_wrong_password_and_unknown_user_look_the_same(person):
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    wrong = _grant(app, secret, person.email, "not-the-password")
    unknown = _grant(app, secret, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant"
    person.refresh_from_db()
    assert person.failed_logins == 1  # the lockout counter counts it, as on the sign-in page
    assert Event.objects.filter(action="oidc.token_refused").count() == 2


def test_forced_change_gets_a_clear_error_not_a_token(person):
    person.must_change_password = True
    person.save()
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = _grant(app, secret, person.email, PASSWORD)
    assert response.status_code == 400
    assert response.json()["error"] == "password_change_required"
    assert "access_token" not in response.json()
