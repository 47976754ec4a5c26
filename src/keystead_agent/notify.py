"""Desktop notifications: a freedesktop notification on the person's own session bus,
through the ``desktop-notifier`` package, sent by a short-lived child process that has
become that person (groups, gid, uid dropped after a fork), so the root daemon never joins
a person's bus itself and the bus sees only its owner.

The child is forked rather than started afresh: the agent's interpreter may live where
only root can read it, so what the child needs is imported here, before the fork. A fork
copies every open descriptor of the daemon (its listening socket, its log, its state
files); the child closes all but standard input, output and error before it becomes the
person, as ``subprocess``'s ``close_fds`` would, so a person's process never holds the
root daemon's socket (to answer PAM in its place) or files.
No session bus (a server, an SSH-only person): no notification; ``keystead-agent sync``
and the next sign-in still do the work."""

from __future__ import annotations

import asyncio  # noqa: F401 - loaded before the fork: the child may not read the stdlib
import logging
import os
import pwd
import signal
import sys
import time
import traceback
from typing import NoReturn

import dbus_fast.aio  # noqa: F401 - as above
from desktop_notifier import DesktopNotifierSync, Urgency
from desktop_notifier.backends import dbus as _dbus_backend  # noqa: F401 - as above

log = logging.getLogger("keystead_agent")
APP = "Keystead"
#: Seconds the child may take to hand the notification to the desktop.
SEND_SECONDS = 30


def _send_as(uid: int, gid: int, address: str, summary: str, body: str) -> None:
    """In the forked child: become the person, then notify on their bus."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    DesktopNotifierSync(app_name=APP, app_icon=None).send(
        title=summary, message=body, urgency=Urgency.Critical)


def _child(uid: int, gid: int, address: str, summary: str, body: str) -> NoReturn:
    """The forked child's whole life: close what it inherited from the daemon (every
    descriptor above standard error), notify as the person, and end without running
    anything of the daemon's (``os._exit``: no atexit handlers, no flushed daemon
    buffers)."""
    code = 1
    try:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _send_as(uid, gid, address, summary, body)
        code = 0
    except BaseException:  # whatever it was, the child says why and ends here
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, seconds: float) -> int:
    """The child's exit code, killed (a negative code) if it has not ended in time."""
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.05)


def notify(user: str, summary: str, body: str, bus_template: str) -> bool:
    """Show a notification in ``user``'s desktop session; False if there is none."""
    try:
        person = pwd.getpwnam(user)
    except KeyError:
        return False
    address = bus_template.format(uid=person.pw_uid)
    if address.startswith("unix:path="):
        path = address.removeprefix("unix:path=").split(",")[0]
        if not os.path.exists(path):
            return False
    pid = os.fork()
    if pid == 0:
        _child(person.pw_uid, person.pw_gid, address, summary, body)
    code = _wait(pid, SEND_SECONDS)
    if code != 0:
        log.warning("notification for %s not shown (exit %s)", user, code)
        return False
    return True
