"""``keystead-agent diagnose``: what stands between this computer and Keystead, in the
words an administrator can act on: reachability, the exact TLS failure (expired, unknown
authority, wrong host name), the clock difference against Keystead's ``Date``, Keystead's
own error messages about the device key and the OIDC client, the daemon's socket, and the
last 20 agent events. Each line is ``label: finding``; the exit status is 1 if anything
is wrong."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from keystead_agent import remote, signing, tls
from keystead_agent.config import Config
from keystead_agent.events import Events

Show = Callable[[str, str], None]


def _keystead_says(answer: httpx.Response) -> str:
    """Keystead's own words from an error answer (``error_description``), quoted."""
    try:
        body = answer.json()
    except ValueError:
        return f"Keystead answered {answer.status_code}: {answer.text[:200]!r}"
    said = body.get("error_description") or body.get("error") or answer.text[:200]
    return f"Keystead says ({answer.status_code} {body.get('error', '')}): \"{said}\""


def reach(config: Config, show: Show) -> int:
    """Reachability, TLS and clock; the number of problems found."""
    host = urlsplit(config.server).hostname or ""
    for name in ("server", "token_url"):
        address = getattr(config, name)
        if address and not tls.encrypted_or_local(address):
            show("TLS", f"NONE: {name} {address} is plain http to another computer, so "
                        "the agent sends nothing there: enrol again with --server "
                        "https://... (plain http only to 127.0.0.1, ::1 or localhost)")
            return 1
    try:
        answer = httpx.get(f"{config.server}/healthz", timeout=config.timeout,
                           verify=tls.verify(config.ca_file))
    except httpx.HTTPError as error:
        refused = tls.verification_error(error)
        if refused is not None:
            show("reachable", f"yes, but TLS failed ({config.server})")
            show("TLS", f"FAILED: {tls.explain(refused, host)}")
        else:
            show("reachable", f"NO ({type(error).__name__}: {error})")
        return 1
    show("reachable", f"yes ({config.server} answered {answer.status_code})")
    if config.server.startswith("https://"):
        show("TLS", f"certificate verified for {host}")
    served = answer.headers.get("date")
    if not served:
        show("clock skew", "unknown (Keystead sent no Date header)")
        return 0
    skew = time.time() - email.utils.parsedate_to_datetime(served).timestamp()
    if abs(skew) <= signing.MAX_SKEW:
        show("clock skew", f"{skew:+.0f}s (ok)")
        return 0
    show("clock skew", f"{skew:+.0f}s TOO LARGE: signed requests beyond "
                       f"{signing.MAX_SKEW}s are refused; fix the clock (NTP)")
    return 1


def keystead_answers(config: Config, show: Show) -> int:
    """Whether Keystead accepts the device key and knows the OIDC client, in its words."""
    problems = 0
    signed = remote.signed(config, "GET", "/devices/config")
    accepted = signed.status_code == 200
    show("device key", "accepted" if accepted else _keystead_says(signed))
    problems += not accepted
    # A refresh token that cannot exist: Keystead says invalid_grant if it knows the client
    # (and counts no failed sign-in); anything else names what is wrong with the client.
    probe = httpx.post(config.token_url, timeout=config.timeout,
                       verify=tls.verify(config.ca_file),
                       data={"grant_type": "refresh_token", "refresh_token": "diagnose",
                             "client_id": config.client_id})
    known = probe.status_code == 400 and _error(probe) == "invalid_grant"
    show("OIDC client", f"{config.client_id} accepted" if known else _keystead_says(probe))
    return problems + (not known)


def _error(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error", ""))
    except ValueError:
        return ""


def daemon_answers(path: str) -> bool:
    """Whether the daemon listens on ``path`` (a connection is accepted)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def run(config: Config, config_file: str, show: Show,
        when: Callable[[int | None], str]) -> int:
    """Every check, in order; the number of problems found."""
    show("configuration", f"{config_file} "
                          f"({'enrolled' if config.enrolled else 'NOT enrolled'})")
    problems = reach(config, show)
    if config.enrolled and not problems:
        try:
            problems += keystead_answers(config, show)
        except httpx.HTTPError as error:
            show("Keystead", f"NO answer ({type(error).__name__}: {error})")
            problems += 1
    answering = daemon_answers(config.socket)
    show("socket", f"{config.socket} "
                   f"({'the daemon answers' if answering else 'MISSING: is the daemon running?'})")
    problems += not answering
    print("last events:")
    for event in Events(config).last(20):
        detail = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "at"))
        print(f"  {when(event['at'])} {event['event']} {detail}")
    return problems
