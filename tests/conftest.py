"""Shared fixtures: real database (PostgreSQL in `make test`, SQLite for smoke tests)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import importlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.db.models.signals import post_migrate
from django.test import Client

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User

# Playwright's sync API runs an event loop in this thread; Django would refuse
# its ORM calls from the test (fixtures, assertions) without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

#: Debian's Chromium (``make test-deps``); Playwright never downloads a browser here.
CHROMIUM = os.environ.get("KEYSTEAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One Chromium for the whole session, shared by every browser test (Playwright's sync
    API allows one instance per thread); each test gets its own context and page."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make test-deps).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A page of a fresh browser context addressed at the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()



def _restore_admin_roles(sender, using: str = "default", **kwargs) -> None:
    """Put back the ready-made admin roles after a transactional test flushed the database.

    ``migrate`` creates them once (data migrations directory/0002 and policy/0002).
    Django flushes every table after a transactional or live-server test and then
    sends ``post_migrate``, which recreates permissions but not the roles; without
    this, tests that run later in the same database would find no admin roles.
    Apps are signalled in INSTALLED_APPS order, so "policy" comes after "directory".
    """
    if sender.label != "policy":
        return
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    roles = importlib.import_module("keystead.directory.migrations.0002_admin_roles").ADMIN_ROLES
    for name, perms in roles.items():
        role, _ = Group.objects.using(using).get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            role.permissions.add(Permission.objects.using(using).get(
                content_type__app_label=app_label, codename=codename))
    importlib.import_module("keystead.policy.migrations.0002_admin_role_permissions").grant(
        Group, Permission, using)


post_migrate.connect(_restore_admin_roles, dispatch_uid="keystead-tests-restore-admin-roles")


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser(
        "root@example.com", "Root", "Admin", password="correct horse battery staple"
    )


@pytest.fixture
def person_with(db):
    """A person (no console access) holding exactly the given ``app.codename`` permissions."""
    from django.contrib.auth.models import Permission

    def make(email: str, *permissions: str) -> User:
        person = User.objects.create_user(email, "Given", "Family", password=None)
        for permission in permissions:
            app_label, codename = permission.split(".", 1)
            person.user_permissions.add(Permission.objects.get(
                content_type__app_label=app_label, codename=codename))
        return person

    return make


@pytest.fixture
def token_for(admin_user):
    """Issue a real API token with the given scopes; returns its clear value."""

    def make(*scopes: str) -> str:
        _, clear = issue_token(name="test", scopes=list(scopes), owner=admin_user,
                               actor=OPERATOR, door="test")
        return clear.reveal()

    return make


@pytest.fixture
def admin_token(token_for) -> str:
    return token_for("admin")



class ApiClient:
    """The Django test client with a bearer token and JSON bodies."""

    def __init__(self, token: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def _send(self, method: str, path: str, json=None, **params):
        call = getattr(self.client, method)
        if json is None:
            return call(path, params or None, headers=self.headers)
        return call(path, json, content_type="application/json", headers=self.headers)

    def get(self, path, **params):
        return self._send("get", path, **params)

    def post(self, path, json):
        return self._send("post", path, json)

    def patch(self, path, json):
        return self._send("patch", path, json)

    def delete(self, path):
        return self._send("delete", path)


@pytest.fixture
def api(admin_token) -> ApiClient:
    return ApiClient(admin_token)


@pytest.fixture
def api_with(token_for):
    return lambda *scopes: ApiClient(token_for(*scopes))


@pytest.fixture
def api_for_token():
    """An ``ApiClient`` for the clear value of a token the test issued itself."""
    return ApiClient


# --- Mail -------------------------------------------------------------------------------
# Mail leaves through the outbox (keystead.login.outbox). Web processes deliver it in a
# background thread; in tests that thread is off, and a test that reads mail asks for it
# with ``deliver()``, so delivery happens at a known moment in the test's own thread (and
# transaction). Tests that need the thread itself use ``mail_sender``.


@pytest.fixture(autouse=True)
def _mail_sent_by_the_test(settings) -> None:
    settings.MAIL_SENDER_THREAD = False


@pytest.fixture
def deliver():
    """``deliver()`` runs the sender until no mail is due or being sent; returns ``mail.outbox``.

    Django's locmem backend (or ``smtp_server``) receives what was sent. Mail
    waiting for a later retry stays queued (move the clock with time_machine).
    """
    from django.core import mail

    from keystead.login import outbox

    def run(timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            outbox.deliver_due()
            if not outbox.waiting():  # a background sender may hold a row: wait for it
                return mail.outbox
            if time.monotonic() > deadline:
                pytest.fail(f"mail still waiting after {timeout}s")
            time.sleep(0.05)

    return run


@pytest.fixture
def mail_sender(settings, transactional_db):
    """The background sender thread, as a web process runs it (rows must be committed).

    Stopped before the database is flushed, so it holds no connection then.
    """
    from keystead.login import outbox

    settings.MAIL_SENDER_THREAD = True
    yield outbox.sender
    outbox.sender.stop()


@dataclass
class Mailbox:
    """Messages a real SMTP server (aiosmtpd) received, parsed with the standard library.

    ``hang`` (an Event) makes the server accept DATA and then not answer while set;
    ``refuse`` answers DATA with that reply instead of accepting; ``delay`` waits before
    accepting. ``tries`` counts the DATA commands that reached the server.
    """

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    delay: float = 0.0  # seconds the server waits before accepting a message
    refuse: str = ""  # e.g. "451 4.3.0 Try again later"
    hang: threading.Event = field(default_factory=threading.Event)
    tries: int = 0
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by name
        self.tries += 1
        while self.hang.is_set():
            await asyncio.sleep(0.02)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return self.refuse
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
    by the ``live_server`` thread or the background sender goes here too.
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
        box.hang.clear()
        controller.stop()
