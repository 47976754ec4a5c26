"""Password attribute values beyond the main password, and how the queue keeps them.

Most password attributes are text (``{SSHA}…``, a crypt string, the password
itself) and travel as ``Secret``. Active Directory's ``unicodePwd`` is bytes
(the password in double quotes, UTF-16LE): ``EncodedSecret`` keeps the text and
the encoding the target wants, so nothing lossy happens on the way and a
connector asks for ``wire_bytes``.

The queue stores a password operation's further attributes as one encrypted
JSON token (``pack``/``unpack``); the clear JSON exists only in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from keystead.secret import Secret


class EncodedSecret(Secret):
    """A secret whose target wants it as bytes in ``encoding`` (e.g. ``utf-16-le``)."""

    __slots__ = ("encoding",)

    def __init__(self, value: str, encoding: str) -> None:
        super().__init__(value)
        object.__setattr__(self, "encoding", encoding)


def wire_bytes(value: Secret) -> bytes:
    """The bytes a connector sends for a password attribute."""
    encoding = value.encoding if isinstance(value, EncodedSecret) else "utf-8"
    return value.reveal().encode(encoding)


def pack(values: Mapping[str, Secret]) -> str:
    """The clear JSON of ``values``, to be encrypted at once by the caller."""
    return json.dumps({name: {"value": value.reveal(),
                              "encoding": getattr(value, "encoding", "")}
                       for name, value in values.items()})


def unpack(clear: Secret) -> dict[str, Secret]:
    out: dict[str, Secret] = {}
    for name, item in json.loads(clear.reveal()).items():
        out[name] = (EncodedSecret(item["value"], item["encoding"]) if item["encoding"]
                     else Secret(item["value"]))
    return out
