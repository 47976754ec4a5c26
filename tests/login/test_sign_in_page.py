"""The sign-in page: CSRF, session rotation, security headers, escaping and what it writes.

The same view and the same code run on SQLite (smoke) and PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client

from keystead.directory.models import Event, User
from keystead.login.passwords import GENERIC_FAILURE

from .helpers_live import CSRF_INPUT

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
PASSWORD = "Vellum-Orchid-Tapestry-42"
AWKWARD_NEXT = "/oauth/authorize/?client_id=a&state=\"'<b>&login_hint=o'brien%2Bx%40example.com"
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin",
                    "Cross-Origin-Opener-Policy": "same-origin"}


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def page_token(client: Client, path: str = "/login/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return CSRF_INPUT.search(response.content.decode()).group(1)


def sign_in(client: Client, password: str = PASSWORD, **extra: str):
    form = {"csrfmiddlewaretoken": page_token(client), "username": "ada@example.com",
            "password": password, **extra}
    return client.post("/login/", form)


def assert_security_headers(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response[name] == value, name


def test_a_right_password_starts_a_session_under_a_new_key(ada):
    before = SessionStore()
    before["theme"] = "dark"
    before.create()
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.SESSION_COOKIE_NAME] = before.session_key
    response = sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/"
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before.session_key
    assert not Session.objects.filter(session_key=before.session_key).exists()
    stored = SessionStore(after).load()
    assert stored["theme"] == "dark" and stored["_auth_user_id"] == str(ada.pk)
    assert client.get("/").status_code == 200


def test_a_planted_session_key_is_never_used(ada):
    planted = "a" * 32
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.SESSION_COOKIE_NAME] = planted
    sign_in(client)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted
    assert not Session.objects.filter(session_key=planted).exists()


def test_a_sign_in_writes_its_event_and_last_login(ada):
    sign_in(Client(enforce_csrf_checks=True), HTTP_USER_AGENT="Probe/1.0")
    ada.refresh_from_db()
    assert ada.last_login is not None and ada.failed_logins == 0
    event = Event.objects.get(action="login", outcome="success")
    assert event.actor == ada and event.client_ip == "127.0.0.1"


def test_a_wrong_password_shows_the_page_again_and_counts(ada):
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, "not the password")
    assert response.status_code == 200
    assert GENERIC_FAILURE.replace("'", "&#x27;") in response.content.decode()
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Event.objects.filter(action="login", outcome="failure").count() == 1
    ada.refresh_from_db()
    assert ada.failed_logins == 1


def test_the_csrf_check_guards_the_sign_in(ada):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert_security_headers(response)
    assert not Event.objects.filter(action="login").exists()


def test_every_sign_in_answer_carries_the_security_headers(ada):
    client = Client(enforce_csrf_checks=True)
    assert_security_headers(client.get("/login/"))
    assert_security_headers(sign_in(client, "not the password"))
    assert_security_headers(sign_in(client))


@pytest.mark.parametrize("form", [
    {"username": "ada@example.com", "password": ""},
    {"username": "ada@example.com\x00", "password": PASSWORD},
    {"username": "a" * 300, "password": PASSWORD},
], ids=["empty-password", "nul", "too-long"])
def test_malformed_fields_are_answered_on_the_page(ada, form):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"csrfmiddlewaretoken": page_token(client), **form})
    assert response.status_code == 200 and 'aria-invalid="true"' in response.content.decode()
    assert not Event.objects.filter(action="login").exists()


def test_a_signed_in_browser_is_sent_on(ada):
    client = Client()
    sign_in(client)
    response = client.post("/login/", {"username": "x@y.z", "password": "p",
                                       "next": "/account/"})
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_the_login_hint_and_next_arrive_escaped():
    html = Client().get("/login/?next=" + quote(AWKWARD_NEXT, safe="")).content.decode()
    assert 'value="o&#x27;brien+x@example.com"' in html
    assert "&quot;&#x27;&lt;b&gt;" in html and "<b>" not in html


def test_messages_waiting_to_be_shown_are_shown():
    """A second-step page reached without the password step sends the browser to sign
    in with a message: the page shows it."""
    client = Client()
    sent = client.get("/login/verify/")
    assert sent.status_code == 302 and sent["Location"] == "/login/"
    assert "Sign in first." in client.get("/login/").content.decode()
