"""Shared fixtures: real database (PostgreSQL in `make test`, SQLite for smoke tests)."""

from __future__ import annotations

import pytest

from keystead.api.tokens import issue_token
from keystead.directory.models import User


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
