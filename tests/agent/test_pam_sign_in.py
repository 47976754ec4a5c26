"""Signing in through PAM with the agent: pamtester drives real PAM service files using the
built pam_keystead.so, against a real agent daemon and a real Keystead server."""

from __future__ import annotations

import secrets
import stat

import pytest

from keystead.devices.models import Device
from keystead.directory.models import Event
from keystead_agent.local import shadow_hash

from .conftest import change_keystead_password, enrolled, keystead_person
from .helpers import (
    every_agent_file,
    local_user,
    pamtester,
    remove_user,
    running_daemon,
    wait_for_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]


def unique(word: str) -> str:
    """A password no other text contains (a canary)."""
    return f"{word}-{secrets.token_hex(6)}-Qz"


def assert_nowhere(setup, server, *passwords: str) -> None:
    """No agent file (log, state, events, daemon output) and no server log holds them."""
    texts = {**every_agent_file(setup), server.log_path: server.log_path.read_bytes()}
    for password in passwords:
        for path, content in texts.items():
            assert password.encode() not in content, f"a password is in clear in {path}"


def test_changed_while_signed_out_do_not_store(keystead, tmp_path):
    old, new = unique("Old-Local"), unique("New-Keystead")
    with (local_user(old) as name, enrolled(keystead, tmp_path, "do-not-store") as setup,
          running_daemon(setup)):
        person = keystead_person(name, old)
        change_keystead_password(person, new)  # while the person is signed out

        signed_in = pamtester(setup.keystead_service, name, new, old)
        assert signed_in.ok, signed_in.output
        assert "Previous password of this computer" in signed_in.output
        assert "now matches your Keystead password" in signed_in.output
        # The local password is the Keystead one now, for pam_unix alone too.
        assert pamtester(setup.unix_only, name, new).ok
        assert not pamtester(setup.unix_only, name, old).ok
        # The next sign-in asks nothing more.
        again = pamtester(setup.keystead_service, name, new)
        assert again.ok and "Previous password" not in again.output, again.output

        assert_nowhere(setup, keystead, old, new)
        assert not (setup.state / "passwords.json").exists()  # do-not-store keeps nothing
        # The computer reports who signed in; that makes nobody its owner.
        wait_for_event("agent.sign-in", "success")
        device = Device.objects.get()
        assert (device.reported_user, device.owner) == (name, None)
        assert wait_for_event("agent.local-password.sync", "success").detail["user"] == name
        assert Event.objects.filter(action="agent.local-password.sync",
                                    outcome="success").count() == 1


def test_wrong_old_local_password_changes_nothing(keystead, tmp_path):
    old, new = unique("Old-Local"), unique("New-Keystead")
    with (local_user(old) as name, enrolled(keystead, tmp_path, "do-not-store") as setup,
          running_daemon(setup)):
        keystead_person(name, new)
        refused = pamtester(setup.keystead_service, name, new, "not-the-old-one")
        assert not refused.ok
        assert "not the current local password" in refused.output
        assert pamtester(setup.unix_only, name, old).ok


def test_store_mode_updates_without_asking(keystead, tmp_path):
    first, second = unique("First"), unique("Second")
    with (local_user(first) as name, enrolled(keystead, tmp_path, "store") as setup,
          running_daemon(setup)):
        person = keystead_person(name, first)
        assert pamtester(setup.keystead_service, name, first).ok  # in step: stored now
        change_keystead_password(person, second)

        signed_in = pamtester(setup.keystead_service, name, second)
        assert signed_in.ok, signed_in.output
        assert "Previous password" not in signed_in.output  # the stored one was used
        assert pamtester(setup.unix_only, name, second).ok

        for kept in ("passwords.json", "store.key", "verifiers.json"):
            mode = stat.S_IMODE((setup.state / kept).stat().st_mode)
            assert mode == 0o600, f"{kept} is {oct(mode)}"
        assert name in (setup.state / "passwords.json").read_text()  # it is stored ...
        assert_nowhere(setup, keystead, first, second)  # ... but never in clear


def test_three_wrong_passwords_show_the_reset_address(keystead, tmp_path):
    right = unique("Right")
    with (local_user(right) as name, enrolled(keystead, tmp_path, "do-not-store") as setup,
          running_daemon(setup)):
        keystead_person(name, right)
        tries = [pamtester(setup.keystead_service, name, f"wrong-{n}") for n in range(3)]
        assert not any(attempt.ok for attempt in tries)
        reset = f"{keystead.base}/reset"
        assert reset not in tries[0].output and reset not in tries[1].output
        assert f"Reset it at {reset}" in tries[2].output
        # A right password starts the count again.
        assert pamtester(setup.keystead_service, name, right).ok
        assert reset not in pamtester(setup.keystead_service, name, "wrong-again").output


def test_stricter_local_policy_gives_the_conflict_message(keystead, tmp_path):
    old, new = unique("Old-Local"), unique("Short")
    conf = tmp_path / "pwquality.conf"
    conf.write_text("dictcheck = 0\nminlen = 60\n")
    with (local_user(old) as name,
          enrolled(keystead, tmp_path, "store", pwquality_conf=str(conf)) as setup,
          running_daemon(setup)):
        keystead_person(name, new)
        refused = pamtester(setup.keystead_service, name, new, old)
        assert not refused.ok
        assert "does not meet this computer's local password policy" in refused.output
        assert "contact your IT administrator" in refused.output
        assert pamtester(setup.unix_only, name, old).ok  # unchanged
        assert not pamtester(setup.unix_only, name, new).ok
        assert wait_for_event("agent.local-password.sync", "failure").detail["user"] == name


def test_keystead_unreachable(keystead, tmp_path):
    """Offline: the cached verifier lets the current password in and refuses a wrong one;
    a person never seen falls through to pam_unix; no local password changes."""
    known, stranger_password = unique("Known"), unique("Stranger")
    with (local_user(known) as name, local_user(stranger_password) as stranger,
          enrolled(keystead, tmp_path, "do-not-store") as setup):
        keystead_person(name, known)
        with running_daemon(setup):
            assert pamtester(setup.keystead_service, name, known).ok  # online: remembered
        setup.change(token_url="http://127.0.0.1:9/oauth/token/")  # nothing listens there
        shadow_before = [shadow_hash(name), shadow_hash(stranger)]
        with running_daemon(setup):
            # The verifier decides when the agent alone decides ...
            assert pamtester(setup.keystead_only, name, known).ok
            assert not pamtester(setup.keystead_only, name, "wrong").ok
            # ... and the full stack still takes the local password and refuses others.
            assert pamtester(setup.keystead_service, name, known).ok
            assert not pamtester(setup.keystead_service, name, "wrong").ok
            assert pamtester(setup.keystead_service, stranger, stranger_password).ok
            assert not pamtester(setup.keystead_only, stranger, stranger_password).ok
        assert [shadow_hash(name), shadow_hash(stranger)] == shadow_before
        verifiers = setup.state / "verifiers.json"
        assert stat.S_IMODE(verifiers.stat().st_mode) == 0o600
        assert_nowhere(setup, keystead, known, stranger_password)


def test_without_the_daemon_the_local_password_works(keystead, tmp_path):
    password = unique("Local")
    with local_user(password) as name, enrolled(keystead, tmp_path, "store") as setup:
        assert pamtester(setup.keystead_service, name, password).ok  # no daemon running
        assert not pamtester(setup.keystead_service, name, "wrong").ok


def test_first_sign_in_creates_the_local_account_when_allowed(keystead, tmp_path):
    password = unique("First-Sign-In")
    name = f"kst{secrets.token_hex(4)}"
    keystead_person(name, password)
    try:
        with enrolled(keystead, tmp_path, "store") as setup:
            with running_daemon(setup):  # off by default: not created
                assert not pamtester(setup.keystead_service, name, password).ok
                assert shadow_hash(name) is None
            setup.change(create_accounts=True)
            with running_daemon(setup):
                assert not pamtester(setup.keystead_service, name, "wrong").ok
                assert shadow_hash(name) is None  # only once Keystead says yes
                signed_in = pamtester(setup.keystead_service, name, password)
                assert signed_in.ok, signed_in.output
                assert pamtester(setup.unix_only, name, password).ok
                # Sent by the daemon after the conversation: waited for while it runs.
                assert wait_for_event("agent.local-account.create", "success")
    finally:
        remove_user(name, home=True)


def test_local_only_and_system_accounts(keystead, tmp_path):
    """Keystead's "no" is final only for accounts linked to it (signed in with it here):
    a local-only account keeps its own password; root, system and listed local-only
    accounts are never asked about at all."""
    local_password, linked_password = unique("Local-Only"), unique("Linked")
    with (local_user(local_password) as local_only, local_user(linked_password) as linked,
          enrolled(keystead, tmp_path, "do-not-store") as setup):
        with running_daemon(setup):
            person = keystead_person(linked, linked_password)
            assert pamtester(setup.keystead_service, local_only, local_password).ok
            assert pamtester(setup.keystead_service, linked, linked_password).ok  # linked
            change_keystead_password(person, unique("Changed"))
            refused = pamtester(setup.keystead_service, linked, linked_password)
            assert not refused.ok  # the old (still local) password: Keystead says no
            system = pamtester(setup.keystead_only, "daemon")
            assert not system.ok and "Password" not in system.output
        setup.change(local_accounts=[local_only])
        with running_daemon(setup):
            listed = pamtester(setup.keystead_only, local_only, local_password)
            assert not listed.ok and "Password" not in listed.output
            assert pamtester(setup.keystead_service, local_only, local_password).ok
        events = (setup.state / "events.jsonl").read_text()
        assert '"user": "daemon"' not in events
