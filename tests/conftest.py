"""Shared fixtures: real database (PostgreSQL in `make test`, SQLite for smoke tests)."""

from __future__ import annotations

import importlib

import pytest
from django.db.models.signals import post_migrate
from django.test import Client

from keystead.api.tokens import issue_token
from keystead.directory.models import User


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
def token_for(admin_user):
    """Issue a real API token with the given scopes; returns its clear value."""

    def make(*scopes: str) -> str:
        _, clear = issue_token(name="test", scopes=list(scopes), owner=admin_user, door="test")
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
