"""A real Keystead (``keystead serve`` on the test database) and an enrolled agent.

The agent tests change /etc/passwd, /etc/shadow and /etc/pam.d: they run as root, in one
xdist group, and every account and PAM file they make is removed afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from keystead.devices.models import Device
from keystead.devices.services import TokenRequest, create_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from login.helpers_live import LiveServer, database_url, live_keystead

from .helpers import AgentSetup, agent_application, agent_setup, run_agent


@pytest.fixture
def keystead(transactional_db, tmp_path) -> Iterator[LiveServer]:
    if os.geteuid() != 0:
        pytest.skip("the agent tests add local accounts and PAM files: run them as root")
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server subprocess shares the test database "
                    "(set KEYSTEAD_DATABASE_URL=postgres://...)")
    with live_keystead(database_url(connection.settings_dict), tmp_path, workers=1) as server:
        yield server


@contextmanager
def enrolled(server: LiveServer, tmp: Path, mode: str, **local) -> Iterator[AgentSetup]:
    """An agent configuration enrolled with ``server`` through ``keystead-agent enroll``."""
    app = agent_application()
    _, clear = create_token(TokenRequest(client_id=app.client_id, mode=mode, check_seconds=30),
                            actor=OPERATOR)
    with agent_setup(tmp, **local) as setup:
        done = run_agent(setup.config, "enroll", "--server", server.base, "--token",
                         clear.reveal(), "--name", "test-computer")
        assert done.returncode == 0, done.stderr
        yield setup


def keystead_person(local_name: str, password: str) -> User:
    """The Keystead account of a local account (login-name mapping: the same name)."""
    return User.objects.create_user(f"{local_name}@example.com", "Ada", "Lovelace",
                                    password=password, username=local_name)


def change_keystead_password(person: User, password: str) -> None:
    person.refresh_from_db()
    person.set_password(password)
    person.save()


def check_every_second(setup: AgentSetup, **local) -> None:
    """Shorten the check interval to one second, in Keystead (where the agent re-reads it at
    every check; the console allows 30 and more) and in the agent's file."""
    Device.objects.update(check_seconds=1)
    setup.change(check_seconds=1, **local)
