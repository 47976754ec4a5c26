"""Shared fixtures: real database (PostgreSQL in `make test`, SQLite for smoke tests)."""

from __future__ import annotations

import pytest
from django.test import Client

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
