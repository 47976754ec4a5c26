"""The agent checks a local password with the system's libcrypt against /etc/shadow."""

from __future__ import annotations

import pytest

from keystead_agent.local import verify

from .helpers import local_user

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]


def test_the_local_password_matches_and_nothing_else_does():
    with local_user("Local-Password-58") as name:
        assert verify(name, "Local-Password-58")
        assert not verify(name, "Local-Password-59")
        # C would stop reading at the NUL and check only the right password before it.
        assert not verify(name, "Local-Password-58\x00anything")
