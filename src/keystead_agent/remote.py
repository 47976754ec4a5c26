"""Talking to Keystead: enrolment, the password check (OAuth password grant), and signed
requests of the enrolled device. Every answer is reduced to a plain result; transport
failures and server errors mean *unreachable*, so sign-in falls back to local rules.

An exchange with Keystead ends once ``timeout`` seconds have passed in all (at the
next piece of answer, so at most about twice that), and reads at most ``MAX_ANSWER``
bytes of answer: a server or a proxy that answers slowly, or without end, holds a
sign-in no longer than that and does not fill the root daemon's memory. An
answer that is not the JSON object the protocol says is *unreachable* too, never a yes."""

from __future__ import annotations

import base64
import json
import logging
import platform
import time
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import httpx

from keystead_agent import signing, tls
from keystead_agent.config import ADDRESSES, FROM_KEYSTEAD, Config, acceptable

log = logging.getLogger("keystead_agent")


class Check(Enum):
    RIGHT = "right"
    WRONG = "wrong"
    REFUSED = "refused"  # Keystead answered, but not yes or no (e.g. a second factor needed)
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class CheckResult:
    check: Check
    message: str = ""  # Keystead's own words (error_description), or the transport error
    password_changed_at: int | None = None
    refresh_token: str = ""
    username: str = ""  # the ID token's preferred_username: the Keystead user name
    # Why Keystead refused (the ``reason`` member of its error answer, e.g.
    # "password_changed"; see docs/agent.md), "" if it named none.
    reason: str = ""


class EnrollFailed(RuntimeError):
    pass


#: The most of an answer the agent reads (bytes); Keystead's are a few kilobytes.
MAX_ANSWER = 1024 * 1024


class AnswerTooLarge(httpx.HTTPError):
    """Keystead's answer was longer than ``MAX_ANSWER``."""


class PlainHTTPRefused(httpx.HTTPError):
    """The address is plain http to another computer: nothing is sent there."""


def _plain_http(url: str) -> str:
    """Why ``url`` is refused (see ``tls.encrypted_or_local``), in words naming the fix."""
    return (f"{url!r} is not an https:// address (plain http is accepted for "
            f"{tls.LOOPBACK}): passwords and tokens would travel unencrypted")


_BODY_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def _read_whole(answer: httpx.Response, deadline: float, timeout: float) -> httpx.Response:
    """``answer``'s body, read within ``deadline`` and ``MAX_ANSWER``, as a plain
    Response: the body as read (decoded: the limit holds after gzip too), with the
    headers that do not describe its encoding."""
    body = bytearray()
    pieces = answer.iter_bytes()
    while True:
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"no whole answer within {timeout} seconds",
                                    request=answer.request)
        piece = next(pieces, None)
        if piece is None:
            break
        body += piece
        if len(body) > MAX_ANSWER:
            raise AnswerTooLarge(f"Keystead's answer is longer than {MAX_ANSWER} bytes")
    headers = [(name, value) for name, value in answer.headers.multi_items()
               if name.lower() not in _BODY_HEADERS]
    return httpx.Response(answer.status_code, headers=headers, content=bytes(body),
                          request=answer.request)


def exchange(method: str, url: str, *, timeout: float, ca_file: str = "",
             **kwargs) -> httpx.Response:
    """One request and its whole answer, the answer at most ``MAX_ANSWER`` bytes;
    httpx.HTTPError (a TimeoutException when the time is up, AnswerTooLarge) otherwise.

    Each wait (connecting, sending, each piece of the answer) is at most ``timeout``
    seconds, and once ``timeout`` seconds have passed in all the exchange ends at the
    next piece: an answer trickling in holds a sign-in at most about twice ``timeout``,
    not for as long as the server likes. ``kwargs`` are httpx's (``data``, ``json``,
    ``content``, ``headers``). Plain http to another computer is refused before
    anything is sent (PlainHTTPRefused), whatever the configuration file says."""
    if not tls.encrypted_or_local(url):
        refused = _plain_http(url)
        log.warning("not sent: %s; use Keystead's https:// address", refused)
        raise PlainHTTPRefused(refused)
    deadline = time.monotonic() + timeout
    with (httpx.Client(timeout=timeout, verify=tls.verify(ca_file)) as client,
          client.stream(method, url, **kwargs) as answer):
        return _read_whole(answer, deadline, timeout)


def enroll(server: str, token: str, name: str, public_key: str, timeout: float = 30,
           ca_file: str = "") -> dict:
    """POST /devices/enroll; the configuration Keystead answers with."""
    if not tls.encrypted_or_local(server):
        raise EnrollFailed(f"--server {_plain_http(server)}. Give Keystead's https:// "
                           "address, e.g. --server https://id.example.com")
    url = f"{server.rstrip('/')}/devices/enroll"
    try:
        answer = exchange("POST", url, json={"token": token, "name": name or platform.node(),
                                             "public_key": public_key}, timeout=timeout,
                          ca_file=ca_file)
    except httpx.HTTPError as error:
        refused = tls.verification_error(error)
        why = tls.explain(refused, urlsplit(url).hostname or "") if refused else error
        raise EnrollFailed(f"Keystead at {server} cannot be reached: {why}") from None
    if answer.status_code != 201:
        try:
            said = answer.json().get("error_description", answer.text)
        except ValueError:
            said = answer.text[:200]
        raise EnrollFailed(f"Keystead refused the enrolment ({answer.status_code}): {said}")
    try:
        given = answer.json()
    except ValueError:
        given = None
    if not isinstance(given, dict):
        raise EnrollFailed("Keystead's answer to the enrolment is not a JSON object")
    for name in ADDRESSES:
        value = given.get(name)
        required = value or name == "token_url"  # the others may be empty
        if isinstance(value, str) and required and not tls.encrypted_or_local(value):
            raise EnrollFailed(
                f"Keystead's answer gives {name} {_plain_http(value)}; nothing was written. "
                "Set Keystead's KEYSTEAD_BASE_URL (and any reset URL of the enrolment "
                "token) to https:// addresses, then enrol with a new token")
    for name in ("device_id", *FROM_KEYSTEAD):
        if not acceptable(name, given.get(name)):
            raise EnrollFailed(f"Keystead's answer to the enrolment has no valid {name!r}")
    return given


def check_password(config: Config, username: str, password: str) -> CheckResult:
    """Ask Keystead whether ``password`` is ``username``'s, with the password grant."""
    return _token(config, {"grant_type": "password", "username": username,
                           "password": password, "scope": "openid profile"})


def refresh(config: Config, refresh_token: str) -> CheckResult:
    """Use the refresh token kept from the last sign-in: RIGHT with the current
    ``password_changed_at``, or WRONG (or REFUSED) when Keystead no longer accepts it,
    with Keystead's ``reason`` when it gives one (the password changed, the tokens were
    revoked, the account is disabled, the session expired, the application may no longer
    refresh)."""
    return _token(config, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _text(value: object) -> str:
    """A field of Keystead's answer that should be text: itself, or "" if it is not."""
    return value if isinstance(value, str) else ""


def _token(config: Config, data: dict) -> CheckResult:
    try:
        answer = exchange("POST", config.token_url, timeout=config.timeout,
                          data={**data, "client_id": config.client_id},
                          ca_file=config.ca_file)
    except httpx.HTTPError as error:
        return CheckResult(Check.UNREACHABLE, type(error).__name__)
    if answer.status_code >= 500:
        return CheckResult(Check.UNREACHABLE, f"Keystead answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return CheckResult(Check.UNREACHABLE, f"Keystead answered {answer.status_code}, "
                                              "not a JSON object")
    if answer.status_code == 200:
        access_token = _text(body.get("access_token"))
        if not access_token:  # a yes holds a token: anything else is not Keystead's yes
            return CheckResult(Check.UNREACHABLE, "Keystead answered 200 without a token")
        claims = _claims(body) or _userinfo(config, access_token)
        changed_at, username = claims.get("password_changed_at"), claims.get(
            "preferred_username")
        return CheckResult(Check.RIGHT,
                           password_changed_at=changed_at if type(changed_at) is int
                           else None,
                           refresh_token=_text(body.get("refresh_token")),
                           username=_text(username))
    reason = _text(body.get("reason"))[:64]
    if body.get("error") == "invalid_grant":
        return CheckResult(Check.WRONG, _text(body.get("error_description")), reason=reason)
    return CheckResult(Check.REFUSED, _text(body.get("error_description"))
                       or _text(body.get("error")), reason=reason)


def _claims(body: dict) -> dict:
    """The ID token's claims (read, not verified: the token came straight from Keystead
    over the connection the agent opened); empty if there is none."""
    token = _text(body.get("id_token"))
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _userinfo(config: Config, access_token: str) -> dict:
    """The person's claims from the userinfo endpoint, for a grant that answered without an
    ID token (Keystead's password grant); empty if they cannot be read."""
    if not (config.userinfo_url and access_token):
        return {}
    try:
        answer = exchange("GET", config.userinfo_url, timeout=config.timeout,
                          headers={"Authorization": f"Bearer {access_token}"},
                          ca_file=config.ca_file)
        claims = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def signed(config: Config, method: str, path: str, body: dict | None = None,
           timeout: float | None = None) -> httpx.Response:
    """A request signed with the device key (see ``signing``): the signature covers this
    computer's device id as well as the request itself."""
    key = signing.load_private(config.key_path.read_bytes())
    raw = json.dumps(body).encode() if body is not None else b""
    url = f"{config.server.rstrip('/')}{path}"
    stamp, nonce, parts = int(time.time()), signing.new_nonce(), urlsplit(url)
    headers = {signing.DEVICE_HEADER: str(config.device_id), signing.TIME_HEADER: str(stamp),
               signing.NONCE_HEADER: nonce,
               signing.SIGNATURE_HEADER: signing.sign(
                   key, method, signing.target_of(parts.path, parts.query), stamp, nonce, raw,
                   device_id=config.device_id)}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return exchange(method, url, content=raw or None, headers=headers,
                    timeout=timeout or config.timeout, ca_file=config.ca_file)
