"""Connecting to an LDAP directory, and a step-by-step check of that connection.

``check_connection`` runs the same steps a sign-in does (name lookup, TCP
connect, TLS, service bind, user search, user bind) and stops at the first
that fails, with a message that names the problem and its fix. An operator
who sees "unknown CA" or "base DN not found" knows what to change, where a
bare "can't contact LDAP server" would leave them guessing.

All TLS settings are per connection (never python-ldap's global options), so
two sources with different CAs cannot affect each other. Passwords arrive as
``Secret`` and are revealed only in the bind calls; no message, exception or
log line built here contains one.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum

import ldap
from ldap.controls import DecodeControlTuples
from ldap.controls.ppolicy import PasswordPolicyControl
from ldap.filter import escape_filter_chars

from keystead.secret import Secret
from keystead.sources.ldap.certificates import explain_refusal, fetch_peer_certificate

log = logging.getLogger(__name__)


class Method(StrEnum):
    """How the connection is protected. ``plain`` sends passwords in clear."""

    PLAIN = "plain"
    LDAPS = "ldaps"
    STARTTLS = "starttls"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to reach a directory and look people up in it."""

    host: str
    port: int
    method: Method
    base_dn: str
    user_key: str = "uid"
    ca_pem: str = ""
    bind_dn: str = ""
    bind_password: Secret | None = None
    connect_timeout: float = 5.0
    operation_timeout: float = 10.0

    def url(self) -> str:
        scheme = "ldaps" if self.method is Method.LDAPS else "ldap"
        return f"{scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Step:
    """One step of the check: its name, whether it passed, and what to do if not."""

    name: str
    ok: bool
    message: str


class StepFailed(Exception):
    """Raised inside the check to stop at the first failing step."""

    def __init__(self, step: Step) -> None:
        super().__init__(step.message)
        self.step = step


def _fail(name: str, message: str) -> StepFailed:
    return StepFailed(Step(name, False, message))


def _info(exc: ldap.LDAPError) -> str:
    """The server's or library's own words, without anything we sent."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(detail.get("info") or detail.get("desc") or type(exc).__name__)


def _resolve(settings: ConnectionSettings) -> list[tuple]:
    try:
        return socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _fail("DNS", f"The server name {settings.host!r} could not be resolved "
                           f"({exc.strerror}). Check the spelling of the server address "
                           "or the DNS configuration of this host.") from None


def _tcp_connect(settings: ConnectionSettings, addresses: list[tuple]) -> str:
    """Try each resolved address like libldap does; the first that accepts wins."""
    errors = []
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(settings.connect_timeout)
            try:
                sock.connect(address)
                return address[0]
            except TimeoutError:
                errors.append(f"{address[0]}: timed out after {settings.connect_timeout:g}s")
            except ConnectionRefusedError:
                errors.append(f"{address[0]}: connection refused")
            except OSError as exc:
                errors.append(f"{address[0]}: {exc.strerror}")
    raise _fail("TCP connect", f"Could not connect to port {settings.port} of "
                               f"{settings.host} ({'; '.join(errors)}). Check the port, that "
                               "the directory server is running, and any firewall between.")


def _tls_failure(settings: ConnectionSettings, exc: ldap.LDAPError) -> StepFailed:
    """Name the TLS problem by examining the certificate the server presents."""
    protocol = "LDAPS" if settings.method is Method.LDAPS else "StartTLS"
    cert = fetch_peer_certificate(settings.url(), starttls=settings.method is Method.STARTTLS,
                                  timeout=settings.connect_timeout)
    if cert is None:
        why = (f"no TLS handshake was possible. Check that port {settings.port} speaks "
               f"{protocol}.")
    else:
        why = explain_refusal(cert, host=settings.host, ca_pem=settings.ca_pem) or (
            "the server's certificate was refused. Check that the CA certificate is the one "
            "that issued it.")
    said = _info(exc)
    detail = "" if said == "(unknown error code)" else f" (library said: {said})"
    return _fail("TLS", f"{protocol} with {settings.host}:{settings.port} failed: {why}{detail}")


@contextmanager
def _ca_file(ca_pem: str) -> Iterator[str | None]:
    """The CA as a private temporary file: python-ldap's GnuTLS build reads CAs from files."""
    if not ca_pem.strip():
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="keystead-ldap-ca-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(ca_pem)
        yield path
    finally:
        os.unlink(path)


def _open(settings: ConnectionSettings, ca_path: str | None) -> ldap.ldapobject.LDAPObject:
    """A connection with TLS (if any) established; raises StepFailed naming the TLS problem."""
    conn = ldap.initialize(settings.url())
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, settings.connect_timeout)
    conn.set_option(ldap.OPT_TIMEOUT, settings.operation_timeout)
    if settings.method is not Method.PLAIN:
        if ca_path:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_path)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    try:
        if settings.method is Method.STARTTLS:
            conn.start_tls_s()
        elif settings.method is Method.LDAPS:
            # The handshake happens on the first operation; a root-DSE read needs no bind.
            conn.search_ext_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
    except ldap.CONNECT_ERROR as exc:
        raise _tls_failure(settings, exc) from None
    except ldap.SERVER_DOWN as exc:
        raise _tls_failure(settings, exc) from None
    except ldap.PROTOCOL_ERROR as exc:
        raise _fail("TLS", f"The server refused StartTLS ({_info(exc)}). Enable TLS on the "
                           "directory server or choose LDAPS.") from None
    return conn


def _service_bind(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject) -> str:
    if not settings.bind_dn:
        conn.simple_bind_s("", "")
        return "Bound anonymously (no service account set)."
    password = settings.bind_password.reveal() if settings.bind_password else ""
    try:
        conn.simple_bind_s(settings.bind_dn, password)
    except ldap.INVALID_CREDENTIALS:
        raise _fail("Service bind", f"The directory refused the service account "
                                    f"{settings.bind_dn!r}: wrong bind DN or password. Check "
                                    "both against the directory.") from None
    except ldap.INVALID_DN_SYNTAX:
        raise _fail("Service bind", f"The bind DN {settings.bind_dn!r} is not a valid DN. "
                                    "Write it like cn=keystead,ou=services,dc=example,dc=org."
                    ) from None
    except ldap.UNWILLING_TO_PERFORM as exc:
        raise _fail("Service bind", f"The directory will not accept this bind ({_info(exc)})."
                                    " Set a bind password or allow the bind on the server."
                    ) from None
    return f"Bound as {settings.bind_dn}."


def _find_user(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject,
               username: str) -> str:
    query = f"({settings.user_key}={escape_filter_chars(username)})"
    try:
        found = conn.search_ext_s(settings.base_dn, ldap.SCOPE_SUBTREE, query, ["1.1"],
                                  timeout=settings.operation_timeout)
    except ldap.NO_SUCH_OBJECT:
        raise _fail("Search", f"The base DN {settings.base_dn!r} does not exist on the "
                              "server. Correct 'Base DN'.") from None
    except ldap.INVALID_DN_SYNTAX:
        raise _fail("Search", f"The base DN {settings.base_dn!r} is not a valid DN. Write it "
                              "like ou=people,dc=example,dc=org.") from None
    except ldap.FILTER_ERROR:
        raise _fail("Search", f"The user key {settings.user_key!r} is not a valid attribute "
                              "name. Use an attribute such as uid, mail or "
                              "sAMAccountName.") from None
    entries = [dn for dn, _ in found if dn]  # referrals come back with dn None
    if not entries:
        raise _fail("Search", f"No entry under {settings.base_dn} has {query}. Check the "
                              "user name, the 'Base DN' and the 'User key' attribute.")
    if len(entries) > 1:
        raise _fail("Search", f"{len(entries)} entries under {settings.base_dn} have {query}; "
                              "the user key must identify one person. Choose a unique "
                              "attribute or a narrower base DN.")
    return entries[0]


def _policy_of(controls: list) -> PasswordPolicyControl | None:
    for control in controls:
        if isinstance(control, PasswordPolicyControl):
            return control
    return None


def _bind_controls(exc: ldap.LDAPError) -> list:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    raw = detail.get("ctrls") or []
    try:
        return DecodeControlTuples(raw)
    except ldap.LDAPError:
        return []


def _user_bind(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject, dn: str,
               password: Secret) -> str:
    try:
        msgid = conn.simple_bind(dn, password.reveal(), serverctrls=[PasswordPolicyControl()])
        _, _, _, controls = conn.result3(msgid, timeout=settings.operation_timeout)
    except ldap.INVALID_CREDENTIALS as exc:
        policy = _policy_of(_bind_controls(exc))
        if policy is not None and policy.error == 1:  # accountLocked
            raise _fail("User bind", f"The account {dn} is locked on the directory (too many "
                                     "failed sign-ins or locked by an administrator). An "
                                     "administrator must unlock it there.") from None
        if policy is not None and policy.error == 0:  # passwordExpired
            raise _fail("User bind", f"The password of {dn} has expired on the directory. "
                                     "It must be changed there.") from None
        raise _fail("User bind", f"The directory refused the password for {dn}: wrong "
                                 "password. Try again with the correct password.") from None
    policy = _policy_of(controls)
    if policy is not None and policy.error == 2:  # changeAfterReset
        raise _fail("User bind", f"The password of {dn} was reset by an administrator and "
                                 "must be changed on the directory before it can be used.")
    if policy is not None and policy.error == 0:
        raise _fail("User bind", f"The password of {dn} has expired on the directory. It "
                                 "must be changed there.")
    if policy is not None and policy.graceAuthNsRemaining is not None:
        return (f"Bound as {dn}, but the password has expired: "
                f"{policy.graceAuthNsRemaining} grace sign-in(s) left. Change it soon.")
    if policy is not None and policy.timeBeforeExpiration is not None:
        return (f"Bound as {dn}; the password expires in "
                f"{policy.timeBeforeExpiration} seconds.")
    return f"Bound as {dn}."


def check_connection(settings: ConnectionSettings, *, username: str | None = None,
                     password: Secret | None = None) -> list[Step]:
    """Run each step in order and stop at the first failure; the last step says why.

    Without a ``username`` the check ends after the service bind; without a
    ``password`` it ends after finding the user.
    """
    steps: list[Step] = []
    try:
        addresses = _resolve(settings)
        steps.append(Step("DNS", True, f"{settings.host} resolves to "
                                       f"{', '.join(sorted({a[4][0] for a in addresses}))}."))
        address = _tcp_connect(settings, addresses)
        steps.append(Step("TCP connect", True, f"Connected to {address} port {settings.port}."))
        with _ca_file(settings.ca_pem) as ca_path:
            conn = _open(settings, ca_path)
        try:
            if settings.method is Method.PLAIN:
                steps.append(Step("TLS", True, "Not used: the plain method sends passwords "
                                               "in clear. Choose LDAPS or StartTLS."))
            else:
                steps.append(Step("TLS", True, f"{settings.method.name} established; the "
                                               "server's certificate is trusted."))
            steps.append(Step("Service bind", True, _service_bind(settings, conn)))
            if username is None:
                return steps
            dn = _find_user(settings, conn, username)
            steps.append(Step("Search", True, f"Found {dn}."))
            if password is None:
                return steps
            steps.append(Step("User bind", True, _user_bind(settings, conn, dn, password)))
        finally:
            with suppress(ldap.LDAPError):
                conn.unbind_ext_s()
    except StepFailed as failure:
        steps.append(failure.step)
    except ldap.TIMEOUT:
        steps.append(Step("Directory", False, f"The directory did not answer within "
                                              f"{settings.operation_timeout:g}s. Raise the "
                                              "operation timeout or check the server's load."))
    except ldap.SERVER_DOWN as exc:
        steps.append(Step("Directory", False, f"The connection to the directory was lost "
                                              f"({_info(exc)}). Check the server's logs."))
    except ldap.LDAPError as exc:
        log.warning("LDAP check of %s stopped on %s", settings.url(), type(exc).__name__)
        steps.append(Step("Directory", False, f"The directory answered with an error: "
                                              f"{_info(exc)}."))
    return steps
