"""Fixtures for the admin console tests: signed-in clients for each ready-made admin role."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.db.models.signals import post_migrate
from django.test import Client

from keystead.directory.models import User

_POLICY_ROLES = importlib.import_module(
    "keystead.policy.migrations.0002_admin_role_permissions")


def _restore_policy_role_permissions(sender, using: str = "default", **kwargs) -> None:
    """After a live-server test flushed the database, give the roles their policy rights back.

    tests/e2e/conftest.py recreates the ready-made roles from directory/0002 when
    ``post_migrate`` fires for the directory app; the policy app's signal comes
    after it (apps are signalled in INSTALLED_APPS order), so the roles exist here.
    """
    if sender.label == "policy":
        _POLICY_ROLES.grant(AuthGroup, Permission, using)


post_migrate.connect(_restore_policy_role_permissions,
                     dispatch_uid="keystead-admin-restore-policy-role-permissions")


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    """Create a person; ``roles`` names ready-made admin roles to give them."""

    def make(email: str, given: str = "Test", family: str = "Person", *, roles: tuple = (),
             staff: bool | None = None, **extra) -> User:
        user = User.objects.create_user(email, given, family, password=None, **extra)
        if roles:
            user.groups.set(AuthGroup.objects.filter(name__in=roles))
        if staff if staff is not None else bool(roles):
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return user

    return make


@pytest.fixture
def root_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def client_as(make_user) -> Callable[..., tuple[Client, User]]:
    """A client signed in as a new staff member holding the given admin roles."""

    def make(*roles: str, email: str = "staff@example.com") -> tuple[Client, User]:
        user = make_user(email, "Staff", "Member", roles=roles, staff=True)
        client = Client()
        client.force_login(user)
        return client, user

    return make
