"""The terminal end of the conversation (``keystead-agent sync``): the PAM module's job,
in Python, for a person at a shell."""

from __future__ import annotations

import getpass
import json
import socket
import sys

from keystead_agent import protocol as p


def converse(socket_path: str, user: str, service: str = "keystead-agent",
             ask=getpass.getpass, show=print) -> str:
    """Talk to the daemon until it decides; return ALLOWED, DENIED or IGNORE."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        stream = sock.makefile("rwb")
        stream.write((json.dumps({"type": p.BEGIN, "user": user, "service": service})
                      + "\n").encode())
        stream.flush()
        while True:
            line = stream.readline(p.MAX_LINE)
            if not line:
                return p.DENIED
            message = p.decode(line)
            kind, text = message["type"], message.get("text", "")
            if kind in p.ENDS:
                return kind
            if kind == p.USER:
                continue  # the local account is already the one named
            if kind in p.ASKS:
                stream.write((json.dumps({"type": p.ANSWER, "value": ask(text)})
                              + "\n").encode())
                stream.flush()
            else:
                show(text, file=sys.stderr if kind == p.ERROR else sys.stdout)
