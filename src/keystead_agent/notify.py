"""Desktop notifications: a freedesktop notification on the person's own session bus,
through the ``desktop-notifier`` package, sent by a short-lived child process that has
become that person (groups, gid, uid dropped after a fork), so the root daemon never joins
a person's bus itself and the bus sees only its owner.

The child is forked rather than started afresh: the agent's interpreter may live where
only root can read it, so what the child needs is imported here, before the fork.
No session bus (a server, an SSH-only person): no notification; ``keystead-agent sync``
and the next sign-in still do the work."""

from __future__ import annotations

import asyncio  # noqa: F401 - loaded before the fork: the child may not read the stdlib
import logging
import multiprocessing
import os
import pwd

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
    child = multiprocessing.get_context("fork").Process(
        target=_send_as, args=(person.pw_uid, person.pw_gid, address, summary, body),
        name="notify", daemon=True)
    child.start()
    child.join(SEND_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
    if child.exitcode != 0:
        log.warning("notification for %s not shown (exit %s)", user, child.exitcode)
        return False
    return True
