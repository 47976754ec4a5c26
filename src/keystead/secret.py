"""The ``Secret`` type: a password or token that cannot leak by accident.

Passwords travel through Keystead wrapped in ``Secret``. Its ``repr`` and
``str`` are redacted, so a secret that lands in a log line, an exception
message, a traceback's locals or an audit event shows ``********`` instead of
its value. Code that truly needs the value (a hasher, a connector) calls
``reveal()``, which makes every such place easy to find and review.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "********"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The clear value. Call it only where the value is consumed, never to log it."""
        return self._value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; encrypt it explicitly instead")


SENSITIVE_WORDS = frozenset({
    "password", "passwd", "passphrase", "secret", "token", "otp", "code", "pin", "key",
    "credential", "credentials", "authorization", "cookie",
})


def is_sensitive_key(key: str) -> bool:
    """Whether a mapping key names a secret: its last word is one, as in ``new_password``
    or ``api_key``. ``key_id`` or ``password_set`` name facts about a secret and are kept.
    """
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower())
    return any(w for w in words) and [w for w in words if w][-1] in SENSITIVE_WORDS


def without(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with each of ``secrets`` hidden: for an error a target or a client library
    wrote, which may repeat what it was given."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), REDACTED)
    return text


def scrub(value: Any) -> Any:
    """Copy ``value`` with every Secret and every sensitive-looking key redacted.

    Used on log arguments and audit details, so a careless caller who passes a
    request body still records nothing secret.
    """
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_sensitive_key(k) else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub(v) for v in value)
    return value
