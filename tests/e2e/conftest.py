"""Browser fixtures: Debian's headless Chromium driven by Playwright's sync API.

Playwright never downloads a browser here; ``make test-deps`` installs the
Debian ``chromium`` package. Pages are served by pytest-django's
``live_server``, which runs each test in a flushed (transactional) database.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db.models.signals import post_migrate

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


def _restore_admin_roles(sender, using: str = "default", **kwargs) -> None:
    """Put back the ready-made admin roles after a live-server test flushed the database.

    ``migrate`` creates them once (a data migration). Django flushes every table
    after a transactional test and then sends ``post_migrate``, which recreates
    permissions but not the roles; without this, tests that run later in the same
    database would find no admin roles.
    """
    if sender.label != "directory":
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


post_migrate.connect(_restore_admin_roles, dispatch_uid="keystead-e2e-restore-admin-roles")


@pytest.fixture
def sign_in(page, admin_user):
    """Sign in to the console as the superuser from the root conftest."""

    def go(path: str = "/admin/") -> None:
        page.goto(path)
        page.get_by_label("Email").fill(admin_user.email)
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()

    return go
