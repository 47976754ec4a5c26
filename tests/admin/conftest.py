"""Fixtures for the admin console tests: signed-in clients for each ready-made admin role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client

from keystead.directory.models import User


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
