"""The notification child (a fork of the root daemon that becomes the person) keeps none of
the daemon's open descriptors: not its listening socket, not its files."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket

from keystead_agent import notify


def _open_in_this_process() -> list[str]:
    """What each open descriptor of the calling process refers to (a path, socket:[inode])."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the directory's own descriptor, closed by now
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def test_the_notification_child_holds_none_of_the_daemons_descriptors(tmp_path, monkeypatch):
    """The real fork of ``notify``, with the last step (becoming the person and talking to
    their bus) replaced by a look at what the child has open: it runs where that step
    would, after whatever the child does first."""
    held, report = tmp_path / "daemon-state.json", tmp_path / "child-sees"

    def look(uid: int, gid: int, address: str, summary: str, body: str) -> None:
        report.write_text("\n".join(_open_in_this_process()))

    monkeypatch.setattr(notify, "_send_as", look)
    me = pwd.getpwuid(os.getuid()).pw_name
    with (held.open("w") as state_file, socket.socket(socket.AF_UNIX) as listening):
        listening.bind(str(tmp_path / "agent.sock"))
        listening.listen()
        daemon_socket = f"socket:[{os.fstat(listening.fileno()).st_ino}]"
        assert {str(held), daemon_socket} <= set(_open_in_this_process())
        assert state_file.fileno() > 2 and listening.fileno() > 2
        assert notify.notify(me, "Keystead", "test", "unix:abstract=keystead-test")
    seen = report.read_text().splitlines()
    assert str(held) not in seen
    assert daemon_socket not in seen


def test_a_failing_notification_child_is_reported_not_raised(monkeypatch):
    def fail(*_args) -> None:
        raise RuntimeError("no desktop")

    monkeypatch.setattr(notify, "_send_as", fail)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert notify.notify(me, "Keystead", "test", "unix:abstract=keystead-test") is False
