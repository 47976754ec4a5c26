"""POST /login/ answered ahead of the middleware chain answers as the whole chain does."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from keystead.directory.models import Event, User
from keystead.login.passwords import GENERIC_FAILURE
from keystead.portal import sign_in_first, views
from keystead.portal.sign_in_first import SignInFirst

from .helpers_live import CSRF_INPUT

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
ENTRY = "keystead.portal.sign_in_first.SignInFirst"
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


@pytest.fixture
def without_sign_in_first(settings):
    """The same installation with POST /login/ going through the whole chain."""
    def switch(on: bool) -> None:
        settings.MIDDLEWARE = [m for m in django_settings.MIDDLEWARE if on or m != ENTRY]
    return switch


def _taken_by_sign_in_first(monkeypatch) -> list[str]:
    """Record each request SignInFirst answers itself."""
    taken: list[str] = []
    original = SignInFirst.sign_in

    def sign_in(self, request):
        taken.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SignInFirst, "sign_in", sign_in)
    return taken


def _sign_in(form: dict[str, str], *, csrf: bool = True):
    client = Client(enforce_csrf_checks=True)
    html = client.get("/login/").content.decode()
    token = CSRF_INPUT.findall(html)[0] if csrf else "wrong-token-" + "x" * 20
    response = client.post("/login/", {"csrfmiddlewaretoken": token, **form})
    return client, response


def _shape(response) -> dict:
    """What a browser sees of an answer, apart from random values (keys, tokens)."""
    cookies = {name: {key: morsel[key] for key in ("path", "samesite", "httponly", "secure",
                                                     "max-age")}
               for name, morsel in response.cookies.items()}
    headers = {k: v for k, v in response.headers.items() if k != "Set-Cookie"}
    return {"status": response.status_code, "headers": headers, "cookies": cookies}


@pytest.mark.parametrize("form", [
    {"username": "ada@example.com", "password": PASSWORD},
    {"username": "  ada@example.com ", "password": PASSWORD, "next": "/account/"},
    {"username": "ada@example.com", "password": "wrong-" + PASSWORD},
    {"username": "ada@example.com", "password": ""},
    {"username": "x" * 255, "password": PASSWORD},
    {"username": "ada@example.com", "password": PASSWORD + "\x00"},
], ids=["right", "spaces-and-next", "wrong", "no-password", "long-email", "nul"])
def test_answers_as_the_whole_chain_does(ada, form, without_sign_in_first, monkeypatch):
    taken = _taken_by_sign_in_first(monkeypatch)
    without_sign_in_first(True)
    _, fast = _sign_in(form)
    assert taken == ["/login/"]
    without_sign_in_first(False)
    _, whole = _sign_in(form)
    assert taken == ["/login/"]  # the second went through the chain
    assert _shape(fast) == _shape(whole)
    if fast.status_code == 200:
        page = CSRF_INPUT.sub("T", fast.content.decode())
        assert page == CSRF_INPUT.sub("T", whole.content.decode())


def test_a_right_password_starts_a_session(ada, monkeypatch):
    taken = _taken_by_sign_in_first(monkeypatch)
    client, response = _sign_in({"username": "ada@example.com", "password": PASSWORD})
    assert taken == ["/login/"]
    assert response.status_code == 302 and response["Location"] == "/"
    assert response["X-Frame-Options"] == "DENY"
    assert response.cookies["sessionid"]["httponly"]
    assert client.get("/").status_code == 200  # signed in
    assert Event.objects.filter(action="login", outcome="success", actor=ada).count() == 1


def test_a_wrong_password_shows_the_page_again(ada):
    _, response = _sign_in({"username": "ada@example.com", "password": "nope-" + PASSWORD})
    assert response.status_code == 200
    assert GENERIC_FAILURE.replace("'", "&#x27;") in response.content.decode()
    assert "sessionid" not in response.cookies
    assert Event.objects.filter(action="login", outcome="failure").count() == 1
    ada.refresh_from_db()
    assert ada.failed_logins == 1


def test_the_csrf_check_still_guards_the_sign_in(ada, monkeypatch):
    taken = _taken_by_sign_in_first(monkeypatch)
    _, response = _sign_in({"username": "ada@example.com", "password": PASSWORD}, csrf=False)
    assert taken == ["/login/"]
    assert response.status_code == 403
    assert response["X-Frame-Options"] == "DENY"  # the hooks ran on the refusal too
    assert not Event.objects.filter(action="login").exists()


def test_malformed_fields_never_reach_the_sign_in(ada):
    _, response = _sign_in({"username": "ada@example.com", "password": ""})
    assert response.status_code == 200 and 'aria-invalid="true"' in response.content.decode()
    assert not Event.objects.filter(action="login").exists()


def test_a_signed_in_browser_is_sent_on(ada):
    client, _ = _sign_in({"username": "ada@example.com", "password": PASSWORD})
    token = client.cookies["csrftoken"].value
    response = client.post("/login/", {"csrfmiddlewaretoken": token, "username": "x@y.z",
                                       "password": "p", "next": "/account/"})
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_an_error_in_the_view_is_answered_through_the_hooks(ada, monkeypatch):
    taken = _taken_by_sign_in_first(monkeypatch)

    def broken(*args):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "password_sign_in", broken)
    client = Client(raise_request_exception=False)
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert taken == ["/login/"]
    assert response.status_code == 500
    assert response["X-Frame-Options"] == "DENY"  # the response hooks ran on the error page


def test_other_requests_go_through_the_chain(monkeypatch):
    taken = _taken_by_sign_in_first(monkeypatch)
    assert Client().get("/login/").status_code == 200
    Client().post("/login/verify/", {})
    assert taken == []


def test_middleware_without_hooks_below_it_is_refused(settings):
    plain = "keystead.providers.oidc.middleware.TokenEndpointFirst"  # no process_* hooks
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, plain]
    with pytest.raises(ImproperlyConfigured, match="TokenEndpointFirst comes after"):
        sign_in_first.middleware_below(ENTRY)
