"""The password grant, for a client registered for it, signs in as the portal does."""

from __future__ import annotations

import base64
import json

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


def test_the_sign_in_event_names_the_caller_address_and_user_agent(person):
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    caller = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "keystead-agent/2.1"}
    response = Client().post("/oauth/token/", {"grant_type": "password", "username": person.email,
                                               "password": PASSWORD, "scope": "openid"},
                             **basic(app, secret), **caller)
    assert response.status_code == 200, response.content
    wrong = Client().post("/oauth/token/", {"grant_type": "password", "username": person.email,
                                            "password": "not-the-password"},
                          **basic(app, secret), **caller)
    assert wrong.status_code == 400
    logins = list(Event.objects.filter(action="login").order_by("pk"))
    assert [(e.outcome, e.detail["door"]) for e in logins] == [("success", "oidc"),
                                                               ("failure", "oidc")]
    for event in logins:
        assert event.client_ip == "203.0.113.7"
        assert event.user_agent == "keystead-agent/2.1"
        assert PASSWORD not in str(event.detail)
    issued = Event.objects.get(action="oidc.token_issued")
    assert issued.client_ip == "203.0.113.7" and issued.detail["grant_type"] == "password"


def test_refreshed_id_tokens_say_when_this_sign_in_happened(person):
    """The password grant hands out no ID token (OpenID Connect defines none for it), but
    its refresh tokens bring them: their ``auth_time`` is the password grant's own
    sign-in, not the last one on the web."""
    import datetime

    from django.utils import timezone

    from .helpers import refresh

    person.last_login = timezone.now() - datetime.timedelta(days=3)
    person.save(update_fields=["last_login"])
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    before = int(timezone.now().timestamp())
    body = _grant(app, secret, person.email, PASSWORD).json()

    def auth_time(id_token: str) -> int:
        payload = id_token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[
            "auth_time"]

    first = refresh(app, secret, body["refresh_token"])
    assert first.status_code == 200, first.content
    assert auth_time(first.json()["id_token"]) >= before
    second = refresh(app, secret, first.json()["refresh_token"]).json()
    assert auth_time(second["id_token"]) == auth_time(first.json()["id_token"])


def test_a_client_not_allowed_the_grant_learns_nothing_about_the_password(person):
    """A public client's id alone: the right and the wrong password get the same refusal,
    before any password is checked (no lockout count, no sign-in event)."""
    app, _ = make_app(public=True)
    answers = [Client().post("/oauth/token/", {
        "grant_type": "password", "client_id": app.client_id, "username": person.email,
        "password": password, "scope": "openid"}) for password in (PASSWORD, "not-it")]
    assert [a.status_code for a in answers] == [answers[0].status_code] * 2
    assert answers[0].status_code in (400, 401)
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"] in ("unauthorized_client", "invalid_client")
    person.refresh_from_db()
    assert person.failed_logins == 0
    assert not Event.objects.filter(action="login").exists()


def test_the_user_name_works_as_well_as_the_email(person):
    person.username = "G1906"
    person.save(update_fields=["username"])
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    for typed in ("G1906", "g1906", person.email):
        response = _grant(app, secret, typed, PASSWORD)
        assert response.status_code == 200, (typed, response.content)
    wrong = _grant(app, secret, "g1906", "not-the-password")
    unknown = _grant(app, secret, "G1907", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
