"""The sign-in page filled in from its once-rendered HTML is the page the template renders."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client

from keystead.directory.models import User

from .helpers_live import CSRF_INPUT

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
AWKWARD_NEXT = "/oauth/authorize/?client_id=a&state=\"'<b>&login_hint=o'brien%2Bx%40example.com"


def page(client: Client, path: str) -> tuple[str, list[str]]:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "csrftoken" in response.cookies
    html = response.content.decode()
    return CSRF_INPUT.sub('name="csrfmiddlewaretoken" value="T"', html), CSRF_INPUT.findall(html)


@pytest.mark.parametrize("path", [
    "/login/",
    "/login/?next=" + quote(AWKWARD_NEXT, safe=""),
    "/login/?next=" + quote("/oauth/authorize/?login_hint=ada@example.com", safe=""),
], ids=["plain", "awkward-next", "login-hint"])
def test_the_filled_in_page_is_the_rendered_page(path, settings):
    settings.DEBUG = False
    fast, tokens = page(Client(), path)
    settings.DEBUG = True  # the view renders the template
    rendered, _ = page(Client(), path)
    assert fast == rendered
    assert len(tokens) == 2 and tokens[0] == tokens[1]


def test_the_login_hint_and_next_arrive_escaped(settings):
    settings.DEBUG = False
    html, _ = page(Client(), "/login/?next=" + quote(AWKWARD_NEXT, safe=""))
    assert 'value="o&#x27;brien+x@example.com"' in html
    assert "&quot;&#x27;&lt;b&gt;" in html and "<b>" not in html


def test_a_sign_in_through_the_filled_in_page_works(settings):
    settings.DEBUG = False
    User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                             password="Vellum-Orchid-Tapestry-42")
    client = Client(enforce_csrf_checks=True)
    _, tokens = page(client, "/login/")
    response = client.post("/login/", {"csrfmiddlewaretoken": tokens[0],
                                       "username": "ada@example.com",
                                       "password": "Vellum-Orchid-Tapestry-42"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_messages_waiting_to_be_shown_are_shown(settings):
    """A second-step page reached without the password step sends the browser to sign
    in with a message: the page shows it (the template renders it)."""
    settings.DEBUG = False
    client = Client()
    sent = client.get("/login/verify/")
    assert sent.status_code == 302 and sent["Location"] == "/login/"
    assert "Sign in first." in client.get("/login/").content.decode()


def test_the_plain_page_is_rendered_once_not_for_every_request(settings):
    settings.DEBUG = False
    Client().get("/login/?next=/somewhere")  # the first of its shape in this process, maybe
    again = Client().get("/login/?next=/elsewhere")
    assert again.status_code == 200 and "/elsewhere" in again.content.decode()
    assert again.templates == []  # no template rendered for it
    settings.DEBUG = True
    assert "portal/sign_in.html" in [t.name for t in Client().get("/login/").templates]
