"""The agent checks a local password with the system's libcrypt against /etc/shadow, and
sets one with chpasswd only when chpasswd can take it whole."""

from __future__ import annotations

import pytest

from keystead_agent import local
from keystead_agent import protocol as p
from keystead_agent.config import Config
from keystead_agent.events import Events
from keystead_agent.local import LocalChangeFailed, set_password, verify
from keystead_agent.signin import Agent, Conversation
from keystead_agent.vault import Vault

from .helpers import local_user

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]


def test_the_local_password_matches_and_nothing_else_does():
    with local_user("Local-Password-58") as name:
        assert verify(name, "Local-Password-58")
        assert not verify(name, "Local-Password-59")
        # C would stop reading at the NUL and check only the right password before it.
        assert not verify(name, "Local-Password-58\x00anything")


@pytest.mark.parametrize(("password", "words"), [
    ("Keystead-Pass-61\x00tail", "NUL"),
    ("Keystead-Pass-61\ntail", "line break"),
    ("Keystead-Pass-61\rtail", "line break"),
], ids=["nul", "newline", "carriage-return"])
def test_a_password_chpasswd_cannot_take_whole_is_refused(password, words):
    """chpasswd reads C-string lines: a NUL would leave only what is before it as the local
    password, a line break would end the line. Refused, saying why; nothing changes."""
    with local_user("Local-Password-60") as name:
        with pytest.raises(LocalChangeFailed, match=words) as refused:
            set_password(name, password)
        assert "tail" not in str(refused.value)  # the password is not in the message
        assert verify(name, "Local-Password-60")  # unchanged
        assert not verify(name, "Keystead-Pass-61")


def test_a_colon_in_the_password_is_set_whole():
    """chpasswd splits ``user:password`` at the first colon: the rest is the password."""
    with local_user("Local-Password-62") as name:
        set_password(name, "ab:cd:Keystead-63")
        assert verify(name, "ab:cd:Keystead-63") and not verify(name, "ab")


def test_the_sign_in_says_why_a_password_with_a_nul_is_not_set(tmp_path):
    """Keystead accepted a password holding a NUL: the person is told that, not that the
    computer's password policy refused it; the local password stays."""
    config = Config(state_dir=str(tmp_path / "state"), mode="store")
    agent = Agent(config, Vault(config.state), Events(config))
    said: list[tuple[str, str]] = []
    conv = Conversation(say=lambda kind, text: said.append((kind, text)),
                        ask=lambda kind, prompt: "Local-Password-64")
    with local_user("Local-Password-64") as name:
        assert agent.bring_local_in_line(conv, name, "Keystead-Pass-65\x00x") == p.DENIED
        assert verify(name, "Local-Password-64")
    assert len(said) == 1 and said[0][0] == p.ERROR
    assert "NUL" in said[0][1] and "policy" not in said[0][1]
    assert local.password_problem("Keystead-Pass-65:x") is None
