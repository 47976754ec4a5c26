"""Browser fixtures: Debian's headless Chromium driven by Playwright's sync API.

Playwright never downloads a browser here; ``make test-deps`` installs the
Debian ``chromium`` package. Pages are served by pytest-django's
``live_server``, which runs each test in a flushed (transactional) database.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
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


@dataclass
class Mailbox:
    """Messages a real SMTP server (aiosmtpd) received, parsed with the standard library."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    delay: float = 0.0  # seconds the server waits before accepting a message
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by name
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived in total; fail the test if they don't."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                pytest.fail(f"expected {count} mail(s) within {timeout}s, "
                            f"got {len(self.messages)}")
            return list(self.messages)

    @staticmethod
    def text_of(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings) -> Iterator[Mailbox]:
    """A real SMTP server on a free loopback port, with Django pointed at it.

    ``settings`` changes the one settings object every thread reads, so mail sent
    by the ``live_server`` thread goes here too.
    """
    from aiosmtpd.controller import Controller

    box = Mailbox("127.0.0.1", _free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = box.host
    settings.EMAIL_PORT = box.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "keystead@example.com"
    try:
        yield box
    finally:
        controller.stop()


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
