"""The conversation between the PAM module (or ``keystead-agent sync``) and the daemon.

One JSON object per line over the Unix socket. The client opens with
``{"type": "begin", "user": ..., "service": ...}``; the daemon then sends any number of

- ``{"type": "ask-password", "text": prompt}`` / ``{"type": "ask-old-local-password", ...}``:
  the client asks the person (echo off) and replies ``{"type": "answer", "value": ...}``;
- ``{"type": "info", "text": ...}`` / ``{"type": "error", "text": ...}``: shown to the person;
- ``{"type": "user", "text": local-name}``: the name typed (a Keystead email or user name)
  is this local account; the PAM module makes it the PAM user, so the modules after it
  and the session use the local account;

and ends with exactly one of ``allowed``, ``denied`` or ``ignore`` (Keystead cannot decide:
the next PAM module, pam_unix, does, with the password already typed). Daemon lines are
written with ``type`` first and ``text`` second, ASCII only, so the C module reads them
without a JSON library.
"""

from __future__ import annotations

import json

BEGIN, ANSWER = "begin", "answer"
ASK_PASSWORD, ASK_OLD_LOCAL = "ask-password", "ask-old-local-password"
INFO, ERROR = "info", "error"
USER = "user"
ALLOWED, DENIED, IGNORE = "allowed", "denied", "ignore"
ASKS = (ASK_PASSWORD, ASK_OLD_LOCAL)
ENDS = (ALLOWED, DENIED, IGNORE)
MAX_LINE = 8192


def encode(kind: str, text: str = "") -> bytes:
    """A daemon line: ``{"type":KIND,"text":TEXT}`` in that order, ASCII only."""
    return (json.dumps({"type": kind, "text": text}, ensure_ascii=True,
                       separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict:
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("not a protocol message")
    return data
