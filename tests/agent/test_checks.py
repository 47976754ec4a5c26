"""Checks while signed in: the daemon notices a changed Keystead password or a local change
made outside it, tells the person on a real session bus (dbus-run-session, with
python3-dbusmock's notification daemon as the desktop), and `keystead-agent sync` answers."""

from __future__ import annotations

import subprocess

import pytest

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event
from keystead.directory.services import set_password
from keystead.secret import Secret

from .conftest import check_every_second, enrolled, keystead_person
from .helpers import (
    agent_sync,
    desktop_session,
    local_user,
    pamtester,
    running_daemon,
    wait_for_text,
)
from .test_pam_sign_in import unique

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]


@pytest.mark.parametrize("mode", ["store", "do-not-store"])
def test_keystead_password_changed_while_signed_in(keystead, tmp_path, mode):
    first, second = unique("First"), unique("Second")
    with (local_user(first) as name, enrolled(keystead, tmp_path, mode) as setup,
          desktop_session(name) as (bus, calls)):
        check_every_second(setup, session_bus=bus)
        person = keystead_person(name, first)
        with running_daemon(setup):
            assert pamtester(setup.keystead_service, name, first).ok  # signed in
            set_password(person, Secret(second), actor=OPERATOR, door="test")
            shown = wait_for_text(calls, "Your Keystead password changed")
            assert "keystead-agent sync" in shown
            # Store mode asks only for the Keystead password; the other asks for both.
            answers = (second,) if mode == "store" else (second, first)
            synced = agent_sync(setup, name, *answers)
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert pamtester(setup.unix_only, name, second).ok
            assert shown.count("Notify") == 1  # told once, not every interval
        assert Event.objects.filter(action="agent.password-check",
                                    detail__reason="keystead").exists()


def test_local_change_is_detected_and_undone(keystead, tmp_path):
    password, changed_locally = unique("Keystead"), unique("Local-Change")
    with (local_user(password) as name, enrolled(keystead, tmp_path, "store") as setup,
          desktop_session(name) as (bus, calls)):
        check_every_second(setup, session_bus=bus)
        keystead_person(name, password)
        with running_daemon(setup):
            assert pamtester(setup.keystead_service, name, password).ok
            subprocess.run(["chpasswd"], input=f"{name}:{changed_locally}\n", text=True,
                           check=True)
            wait_for_text(calls, "changed outside Keystead")
            synced = agent_sync(setup, name, password, changed_locally)
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert pamtester(setup.unix_only, name, password).ok
            assert not pamtester(setup.unix_only, name, changed_locally).ok
