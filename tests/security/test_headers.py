"""Every page carries a strict Content-Security-Policy; HSTS over https; idle sessions end."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.test import Client

from keystead.directory.models import Event, User

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
PASSWORD = "Vellum-Orchid-Tapestry-42"
PAGES = ["/login/", "/reset", "/admin/", "/admin/directory/user/", "/admin/directory/user/add/",
         "/api/docs", "/.well-known/openid-configuration"]


@pytest.fixture
def browser(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_policy_without_inline_code(browser, path):
    response = (Client() if path in ("/login/", "/reset") else browser).get(path)
    assert response.status_code == 200, path
    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/login/", "/admin/", "/admin/directory/user/", "/api/docs"])
def test_pages_have_no_inline_script_or_style(browser, path):
    """What the policy would block: executable inline scripts, style blocks and attributes."""
    html = (Client() if path == "/login/" else browser).get(path).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "<style" not in html and " style=" not in html and " onclick=" not in html


def test_the_api_documentation_is_served_from_keystead_itself():
    html = Client().get("/api/docs").content.decode()
    assert "cdn" not in html.lower()
    assert "/static/ninja/swagger-ui-bundle.js" in html


def test_hsts_is_sent_over_https_only(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    assert Client().get("/login/", secure=True)["Strict-Transport-Security"].startswith(
        "max-age=31536000")
    assert "Strict-Transport-Security" not in Client().get("/login/")


def test_a_session_ends_after_the_idle_time(settings):
    settings.SESSION_IDLE_SECONDS = 600
    User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    with time_machine.travel("2026-12-06 09:00 +0000", tick=False) as clock:
        client = Client()
        client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
        assert client.get("/").status_code == 200
        clock.shift(540)
        assert client.get("/").status_code == 200  # active: the idle time starts again
        clock.shift(540)
        assert client.get("/").status_code == 200
        clock.shift(601)
        assert client.get("/").status_code == 302  # to the sign-in page
    event = Event.objects.get(action="logout")
    assert event.detail["reason"] == "idle"
