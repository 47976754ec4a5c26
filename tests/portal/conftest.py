"""Fixtures for the self-service portal's tests: a person and their browsers (test clients)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from keystead.directory.models import User
from keystead.policy.models import LogonPolicy

PASSWORD = "Vellum-Orchid-Tapestry-42"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"


@pytest.fixture
def ada(db) -> User:
    LogonPolicy.current()  # password only: no second factor asked
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


@pytest.fixture
def browser_of() -> Callable[..., Client]:
    """A browser (test client) with a User-Agent, signed in through the sign-in form."""

    def make(user_agent: str = FIREFOX, email: str = "ada@example.com",
             password: str = PASSWORD) -> Client:
        client = Client(HTTP_USER_AGENT=user_agent)
        answer = client.post("/login/", {"username": email, "password": password})
        assert answer.status_code == 302 and answer["Location"] == "/", answer
        return client

    return make
