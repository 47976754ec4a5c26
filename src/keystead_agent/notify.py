"""Desktop notifications: the freedesktop Notify call on the person's own session bus,
made as that person (runuser + gdbus), so the root daemon never joins a user's bus itself.
No session bus (a server, an SSH-only person): no notification; ``keystead-agent sync``
and the next sign-in still do the work."""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess

log = logging.getLogger("keystead_agent")
RUNUSER, GDBUS = "/usr/sbin/runuser", "/usr/bin/gdbus"
APP = "Keystead"


def notify(user: str, summary: str, body: str, bus_template: str) -> bool:
    """Show a notification in ``user``'s desktop session; False if there is none."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return False
    address = bus_template.format(uid=uid)
    if address.startswith("unix:path="):
        path = address.removeprefix("unix:path=").split(",")[0]
        if not os.path.exists(path):
            return False
    if not os.path.exists(GDBUS):
        log.warning("no %s: cannot show desktop notifications", GDBUS)
        return False
    # Each argument is GVariant text: strings quoted (JSON's quoting is valid GVariant).
    command = [RUNUSER, "-u", user, "--", GDBUS, "call", "--address", address,
               "--dest", "org.freedesktop.Notifications",
               "--object-path", "/org/freedesktop/Notifications",
               "--method", "org.freedesktop.Notifications.Notify", "--",
               json.dumps(APP), "0", '""', json.dumps(summary), json.dumps(body), "[]", "{}",
               "-1"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=30,  # noqa: S603
                         check=False)
    if run.returncode != 0:
        log.warning("notification for %s not shown: %s", user, run.stderr.strip()[:200])
        return False
    return True
