"""Plain rules of enrolment and signed agent requests: no database, no I/O."""

from __future__ import annotations

import hashlib
import math
import re

from keystead.secret import scrub

#: Agent event names: lower-case words joined by dots or dashes, e.g. ``local-password.sync``.
EVENT_NAME = re.compile(r"^[a-z][a-z0-9.\-]{0,59}$")
#: Detail keys an agent may report; anything else is dropped (secrets cannot ride along).
EVENT_FIELDS = ("user", "mode", "outcome", "reason", "service")
MAX_EVENTS = 100
#: Failed enrolments (unknown, used or expired tokens) from one address within the window
#: after which that address is refused (HTTP 429) until the oldest of them age out.
ENROLL_FAILURES = 10
ENROLL_WINDOW_SECONDS = 600


def token_digest(clear: str) -> str:
    """How an enrolment token is stored and looked up: its SHA-256 (it is random and long,
    so a slow hash would add nothing)."""
    return hashlib.sha256(clear.encode()).hexdigest()


def within_skew(timestamp: int, now: int, skew: int) -> bool:
    return abs(now - timestamp) <= skew


def clean_status(raw: dict) -> dict[str, str]:
    """What the agent reports about itself, as the console shows it: at most 20 entries of
    short strings, those whose name looks like a secret's (``password``, ``token``, …)
    redacted, as in the logs, since the console is no place for one."""
    return scrub({str(key)[:60]: str(value)[:200] for key, value in list(raw.items())[:20]})


def clean_event(raw: object) -> dict[str, str] | None:
    """One agent event reduced to its known fields as short strings, or None if it has
    no valid name."""
    if not isinstance(raw, dict):
        return None
    name = raw.get("event")
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        return None
    kept = {key: str(raw[key])[:200] for key in EVENT_FIELDS if key in raw}
    return {"event": name, **kept}


def login_name(local: str, *, mapping: str, email_domain: str) -> str:
    """The Keystead sign-in name of a local account (the same rule the agent applies)."""
    return f"{local}@{email_domain}" if mapping == "email" and email_domain else local


def retry_after(failures: list[float], now: float, *, limit: int, window: int) -> int | None:
    """Seconds until an address with failures at these times (Unix seconds, any order) may
    try again, or None if it may now: held back while ``limit`` of them are in the window."""
    recent = sorted((stamp for stamp in failures if stamp > now - window), reverse=True)
    if len(recent) < limit:
        return None
    return max(1, math.ceil(recent[limit - 1] + window - now))
