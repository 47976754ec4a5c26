"""Fixtures of the console and portal browser tests. The browser itself (``browser``,
``page``: Debian's headless Chromium through Playwright's sync API), the SMTP
server and the mail sender fixtures are in ``tests/conftest.py``, shared with
the browser tests of other folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SCREENSHOT_DIR = Path(os.environ.get("KEYSTEAD_SCREENSHOT_DIR", "/tmp"))


@pytest.fixture
def sign_in(page, admin_user):
    """Sign in to the console as the superuser from the root conftest."""

    def go(path: str = "/admin/") -> None:
        page.goto(path)
        page.get_by_label("Email").fill(admin_user.email)
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()

    return go


@pytest.fixture
def phone_page(browser, live_server) -> Iterator:
    """A page the size of a small phone (375 CSS pixels wide), for layout checks."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


PERSON_PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def addressed_installation(settings, tmp_path, monkeypatch, live_server):
    """An installation as its screenshots show it: its own key file in a data directory,
    its address the live server's, no debug pages."""
    monkeypatch.delenv("KEYSTEAD_SECRET_KEY", raising=False)
    settings.DATA_DIR = tmp_path
    key = tmp_path / "secret_key"
    key.write_text("k" * 60)
    key.chmod(0o600)
    settings.BASE_URL = live_server.url
    settings.DEBUG = False
    return settings


@pytest.fixture
def person(transactional_db):
    """An ordinary user of the portal (not an administrator)."""
    from keystead.directory.models import User

    return User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                                    password=PERSON_PASSWORD)


def sign_in_as(page, email: str, password: str, path: str = "/login/") -> None:
    """Fill in and send the sign-in form, as a person would."""
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
