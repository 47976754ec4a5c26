"""Signing in with a Keystead email or user name (mapped to the local account), the agent
following the configuration an administrator changes in Keystead, and the back-off on
repeated wrong passwords while Keystead cannot be reached. Real pamtester, PAM files, local
accounts, agent daemon and Keystead server, as in ``test_pam_sign_in``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from keystead.devices.models import Device
from keystead.devices.services import change_device
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User

from .conftest import check_every_second, enrolled, keystead_person
from .helpers import (
    PAM_MODULE,
    AgentSetup,
    local_user,
    pam_service,
    pamtester,
    running_daemon,
    wait_for_event,
    wait_for_text,
)
from .test_pam_sign_in import unique

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]


@contextmanager
def as_account(setup: AgentSetup, name: str) -> Iterator[str]:
    """A PAM service where the agent decides and the PAM user must then be ``name``: proves
    the typed name was mapped to that local account for the rest of the stack."""
    with pam_service(f"auth [success=ok ignore=ignore default=die] {PAM_MODULE} "
                     f"socket={setup.socket}",
                     f"auth required pam_succeed_if.so user = {name} quiet",
                     "account required pam_permit.so") as service:
        yield service


def test_sign_in_with_the_keystead_email(keystead, tmp_path):
    old, new = unique("Old-Local"), unique("New-Keystead")
    with (local_user(old) as name, enrolled(keystead, tmp_path, "do-not-store") as setup,
          as_account(setup, name) as service):
        email = f"{name}@example.com"
        keystead_person(name, new)
        with running_daemon(setup):
            refused = pamtester(service, email, "wrong")
            assert not refused.ok
            signed_in = pamtester(service, email, new, old)
            assert signed_in.ok, signed_in.output
            assert "Previous password of this computer" in signed_in.output
            assert pamtester(setup.unix_only, name, new).ok  # the local account follows
            assert pamtester(service, name, new).ok  # the local name works as well
        # Offline, the email remembered from the last sign-in still names the account ...
        setup.change(token_url="http://127.0.0.1:9/oauth/token/")
        with running_daemon(setup):
            assert pamtester(service, email, new).ok
            # ... and an email never seen here leads nowhere.
            assert not pamtester(service, f"x{name}@example.com", new).ok
    assert Event.objects.filter(action="agent.sign-in", outcome="success",
                                detail__user=name).exists()


def test_sign_in_with_the_email_of_the_mapped_domain(keystead, tmp_path):
    password = unique("Mapped")
    with (local_user(password) as name, enrolled(keystead, tmp_path, "store") as setup,
          as_account(setup, name) as service):
        Device.objects.update(login_name="email", email_domain="corp.example")
        setup.change(login_name="email", email_domain="corp.example")
        # In Keystead the person's user name is not the local name: only the email maps.
        User.objects.create_user(f"{name}@corp.example", "Ada", "Lovelace",
                                 password=password, username=f"k-{name}")
        with running_daemon(setup):
            typed = pamtester(service, f"{name}@Corp.Example", password)
            assert typed.ok, typed.output
            assert pamtester(service, name, password).ok  # local name → name@corp.example
            other = pamtester(service, f"{name}@other.example", password)
            assert not other.ok and "Password" not in other.output  # not asked at all


def test_the_agent_follows_changes_made_in_keystead(keystead, tmp_path):
    with enrolled(keystead, tmp_path, "do-not-store") as setup:
        check_every_second(setup)
        with running_daemon(setup):
            device = Device.objects.get()
            change_device(device, owner=None, mode="store", check_seconds=45,
                          actor=OPERATOR)
            Device.objects.update(reset_url="https://help.example.com/reset")
            wait_for_text(setup.config, "https://help.example.com/reset")
            settings = setup.settings()
            assert (settings["mode"], settings["check_seconds"]) == ("store", 45)
            event = wait_for_event("agent.configuration.change")
        assert "mode=store" in event.detail["reason"]
        assert Event.objects.get(action="device.change").detail == {
            "mode": "store", "check_seconds": 45}


def test_repeated_wrong_passwords_offline_wait(keystead, tmp_path):
    password = unique("Offline")
    with local_user(password) as name, enrolled(keystead, tmp_path, "store") as setup:
        keystead_person(name, password)
        with running_daemon(setup):
            assert pamtester(setup.keystead_service, name, password).ok  # verifier kept
        setup.change(token_url="http://127.0.0.1:9/oauth/token/")
        with running_daemon(setup):
            assert pamtester(setup.keystead_only, name, password).ok
            for _ in range(3):
                assert not pamtester(setup.keystead_only, name, "wrong").ok
            held = pamtester(setup.keystead_service, name, password)
            assert not held.ok  # even the right password waits, and pam_unix is not tried
            assert "Too many wrong passwords while Keystead cannot be reached" in held.output
        events = (setup.state / "events.jsonl").read_text()
        assert "waiting after wrong passwords" in events
