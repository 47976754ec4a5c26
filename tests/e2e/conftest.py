"""Browser fixtures: Debian's headless Chromium driven by Playwright's sync API.

Playwright never downloads a browser here; ``make test-deps`` installs the
Debian ``chromium`` package. Pages are served by pytest-django's
``live_server``, which runs each test in a flushed (transactional) database.
The SMTP server (``smtp_server``) and the mail sender fixtures are in
``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would refuse
# its ORM calls from the test (fixtures, assertions) without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("KEYSTEAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT_DIR = Path(os.environ.get("KEYSTEAD_SCREENSHOT_DIR", "/tmp"))


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One Chromium for the whole session; each test gets its own context and page."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make test-deps).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


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
