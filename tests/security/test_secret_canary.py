"""The canary: a unique password set through every door must leak nowhere.

Each door below sets or uses a password that exists nowhere else. Afterwards
the test searches every log line (as the real handlers format it), every audit
event, every HTTP response (body and headers) and every row of every table for
it. ``test_scanner_finds_a_planted_canary`` proves the search itself can fail.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.test import Client

from keystead.directory.models import Event, User
from keystead.logs import HumanFormatter, JsonFormatter, RedactSecretsFilter

pytestmark = pytest.mark.django_db


@dataclass
class Exposure:
    """Everything an attacker or an operator could read after the doors were used."""

    logs: io.StringIO = field(default_factory=io.StringIO)
    responses: list[bytes] = field(default_factory=list)

    def keep(self, response) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        body = b"" if getattr(response, "streaming", False) else response.content
        self.responses.append(headers.encode() + b"\n\n" + body)

    def places_holding(self, canary: str) -> list[str]:
        found = []
        if canary in self.logs.getvalue():
            found.append("log output")
        found += [f"HTTP response #{i}" for i, r in enumerate(self.responses)
                  if canary.encode() in r]
        for event in Event.objects.all():
            if canary in repr(event.__dict__):
                found.append(f"audit event {event.action}")
        found += [f"table {name}" for name in tables_holding(canary)]
        return found


def tables_holding(canary: str) -> Iterator[str]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            if any(canary in repr(row) for row in cursor.fetchall()):
                yield table


@pytest.fixture
def exposure() -> Iterator[Exposure]:
    """Capture log output through the same filter and formatters production uses."""
    seen = Exposure()
    handlers = []
    for formatter in (HumanFormatter("%(name)s %(message)s"), JsonFormatter()):
        handler = logging.StreamHandler(seen.logs)
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecretsFilter())
        handler.setLevel(logging.DEBUG)
        handlers.append(handler)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield seen
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(old_level)


def new_canary() -> str:
    return f"Canary-{secrets.token_hex(12)}-Pw!"


Door = Callable[[Exposure, dict, str], None]


def api_create_user(seen: Exposure, ctx: dict, canary: str) -> None:
    response = ctx["api"].post("/api/v1/users", {
        "email": "api-door@example.com", "given_name": "Api", "family_name": "Door",
        "password": canary,
    })
    seen.keep(response)
    assert response.status_code == 201
    assert User.objects.get(email="api-door@example.com").check_password(canary)


def api_set_password(seen: Exposure, ctx: dict, canary: str) -> None:
    user = User.objects.create_user("api-set@example.com", "Api", "Set")
    response = ctx["api"].post(f"/api/v1/users/{user.pk}/password", {"password": canary})
    seen.keep(response)
    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(canary)


def api_rejected_payload(seen: Exposure, ctx: dict, canary: str) -> None:
    """A refused request must not echo the password back in its error."""
    response = ctx["api"].post("/api/v1/users", {
        "email": "not-an-email", "given_name": "", "family_name": "", "password": canary,
    })
    seen.keep(response)
    assert response.status_code == 400


def portal_sign_in(seen: Exposure, ctx: dict, canary: str) -> None:
    User.objects.create_user("portal@example.com", "Portal", "Door", password=canary)
    browser = Client()
    wrong = browser.post("/login/", {"username": "portal@example.com", "password": canary + "x"})
    seen.keep(wrong)
    assert wrong.status_code == 200
    right = browser.post("/login/", {"username": "portal@example.com", "password": canary})
    seen.keep(right)
    assert right.status_code == 302


DOORS: list[Door] = [api_create_user, api_set_password, api_rejected_payload, portal_sign_in]


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_password_leaks_nowhere(door: Door, exposure: Exposure, api) -> None:
    canary = new_canary()
    door(exposure, {"api": api}, canary)
    assert exposure.places_holding(canary) == []


def test_scanner_finds_a_planted_canary(exposure: Exposure) -> None:
    """The search is real: a canary planted in each place is found there."""
    canary = new_canary()
    logging.getLogger("keystead.test").warning("oops %s", canary.replace("-", "_"))
    Event.objects.create(action="test.plant", detail={"note": canary})
    exposure.responses.append(canary.encode())
    places = exposure.places_holding(canary)
    assert "HTTP response #0" in places
    assert "audit event test.plant" in places
    assert "table directory_event" in places
    assert canary.replace("-", "_") in exposure.logs.getvalue()
