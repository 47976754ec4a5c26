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

import ipaddress
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
    user_filter: str = ""
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
    """Raised inside the check to stop at the first failing step.

    ``code`` tells sign-in what kind of failure it was ("not found",
    "ambiguous"; empty for a configuration or connection problem).
    """

    def __init__(self, step: Step, code: str = "") -> None:
        super().__init__(step.message)
        self.step = step
        self.code = code


def _fail(name: str, message: str, code: str = "") -> StepFailed:
    return StepFailed(Step(name, False, message), code)


def _info(exc: ldap.LDAPError) -> str:
    """The server's or library's own words, without anything we sent."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(detail.get("info") or detail.get("desc") or type(exc).__name__)


def host_name_valid(host: str) -> bool:
    """Whether ``host`` can be looked up at all: an IP address, or a name whose every
    label (international ones in their IDNA form) is 1 to 63 characters."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def _resolve(settings: ConnectionSettings) -> list[tuple]:
    if not host_name_valid(settings.host):
        raise _fail("DNS", f"The server name {settings.host!r} is not a valid host name "
                           "(each part between dots must be 1 to 63 characters). Correct the "
                           "server address.")
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
def ca_file(ca_pem: str) -> Iterator[str | None]:
    """The CA as a private temporary file, for as long as the ``with`` block (the TLS
    handshake) lasts: python-ldap's GnuTLS build reads CAs from files only. ``None`` when
    there is no CA (the system's are used)."""
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


def open_connection(settings: ConnectionSettings) -> ldap.ldapobject.LDAPObject:
    """A new connection with TLS (if any) established and nothing bound yet.

    Raises ``StepFailed`` naming the TLS problem; the CA file exists only
    while the TLS context is built.
    """
    with ca_file(settings.ca_pem) as ca_path:
        return _open(settings, ca_path)


def service_bind(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject) -> str:
    """Bind as the service account (or anonymously); the words for the check's step."""
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


def user_query(settings: ConnectionSettings, username: str) -> str:
    """The filter that finds the person typed as ``username`` (escaped), with the
    source's extra filter if any."""
    query = f"({settings.user_key}={escape_filter_chars(username)})"
    extra = settings.user_filter.strip()
    if extra:
        extra = extra if extra.startswith("(") else f"({extra})"
        query = f"(&{query}{extra})"
    return query


def find_user(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject,
              username: str, attributes: list[str] | None = None) -> tuple[str, dict]:
    """The one entry for ``username``: its DN and the ``attributes`` asked for.

    Raises ``StepFailed`` with code "not found" or "ambiguous" for the person's
    own problems, and without a code for the source's settings.
    """
    query = user_query(settings, username)
    try:
        found = conn.search_ext_s(settings.base_dn, ldap.SCOPE_SUBTREE, query,
                                  attributes or ["1.1"], timeout=settings.operation_timeout)
    except ldap.NO_SUCH_OBJECT:
        raise _fail("Search", f"The base DN {settings.base_dn!r} does not exist on the "
                              "server. Correct 'Base DN'.") from None
    except ldap.INVALID_DN_SYNTAX:
        raise _fail("Search", f"The base DN {settings.base_dn!r} is not a valid DN. Write it "
                              "like ou=people,dc=example,dc=org.") from None
    except ldap.FILTER_ERROR:
        raise _fail("Search", f"The search filter {query!r} is not valid. Check the 'User "
                              "key' (an attribute such as uid, mail or sAMAccountName) and "
                              "the 'User filter'.") from None
    entries = [(dn, entry) for dn, entry in found if dn]  # referrals come back with dn None
    if not entries:
        raise _fail("Search", f"No entry under {settings.base_dn} has {query}. Check the "
                              "user name, the 'Base DN' and the 'User key' attribute.",
                    "not found")
    if len(entries) > 1:
        raise _fail("Search", f"{len(entries)} entries under {settings.base_dn} have {query}; "
                              "the user key must identify one person. Choose a unique "
                              "attribute or a narrower base DN.", "ambiguous")
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


class BindResult(StrEnum):
    """What the directory said to a person's password."""

    ACCEPTED = "accepted"
    WRONG_PASSWORD = "wrong password"
    LOCKED = "locked on the directory"
    EXPIRED = "password expired on the directory"
    MUST_CHANGE = "password must be changed on the directory"
    ACCOUNT_EXPIRED = "account expired on the directory"
    DISABLED = "account disabled on the directory"
    REFUSED = "refused by the directory"


#: Answers that the directory gives only to the right password: saying them to the
#: person reveals nothing a guesser could use.
PASSWORD_PROVEN = frozenset({BindResult.ACCEPTED, BindResult.EXPIRED, BindResult.MUST_CHANGE,
                             BindResult.ACCOUNT_EXPIRED, BindResult.DISABLED})


@dataclass(frozen=True)
class BindAnswer:
    """The directory's answer to a user bind, for the console check and for sign-in.

    ``detail`` is the operator's wording (the check's step), ``person`` the
    plain words for the person signing in ("" when the generic failure is
    the right answer), ``reason`` the short text for the audit event.
    """

    dn: str
    result: BindResult
    detail: str
    person: str = ""
    reason: str = ""
    grace_left: int | None = None
    expires_in_seconds: int | None = None

    @property
    def password_proven(self) -> bool:
        return self.result in PASSWORD_PROVEN


def _active_directory_answer(dn: str, exc: ldap.LDAPError) -> BindAnswer | None:
    """Active Directory's sub-code ("data 775") read by the module that knows them."""
    from keystead.sources.ldap.active_directory import bind_refusal

    refusal = bind_refusal(exc)
    if refusal is None:
        return None
    result = {"52e": BindResult.WRONG_PASSWORD, "532": BindResult.EXPIRED,
              "773": BindResult.MUST_CHANGE, "775": BindResult.LOCKED,
              "701": BindResult.ACCOUNT_EXPIRED, "533": BindResult.DISABLED,
              }.get(str(refusal.code).lower(), BindResult.REFUSED)
    person = refusal.message if result in PASSWORD_PROVEN else ""
    return BindAnswer(dn, result, f"{dn}: {refusal.message} ({refusal.reason}).", person=person,
                      reason=refusal.reason)


def user_bind(settings: ConnectionSettings, conn: ldap.ldapobject.LDAPObject, dn: str,
              password: Secret, *, kind: str = "openldap") -> BindAnswer:
    """Bind as ``dn`` with the password-policy control and read the answer.

    ``kind`` "active_directory" reads refusals by their sub-code; other
    servers answer through the ppolicy control (OpenLDAP). Connection
    errors (``ldap.SERVER_DOWN``, ``ldap.TIMEOUT``) are left to the caller.
    """
    try:
        msgid = conn.simple_bind(dn, password.reveal(), serverctrls=[PasswordPolicyControl()])
        _, _, _, controls = conn.result3(msgid, timeout=settings.operation_timeout)
    except (ldap.INVALID_CREDENTIALS, ldap.UNWILLING_TO_PERFORM, ldap.CONSTRAINT_VIOLATION
            ) as exc:
        if kind == "active_directory":
            answer = _active_directory_answer(dn, exc)
            if answer is not None:
                return answer
        policy = _policy_of(_bind_controls(exc))
        if policy is not None and policy.error == 1:  # accountLocked
            return BindAnswer(dn, BindResult.LOCKED,
                              f"The account {dn} is locked on the directory (too many failed "
                              "sign-ins or locked by an administrator). An administrator must "
                              "unlock it there.", reason="locked on the directory (ppolicy)")
        if policy is not None and policy.error == 0:  # passwordExpired
            return BindAnswer(dn, BindResult.EXPIRED,
                              f"The password of {dn} has expired on the directory. It must be "
                              "changed there.", person="Your directory password has expired.",
                              reason="password expired (ppolicy)")
        if not isinstance(exc, ldap.INVALID_CREDENTIALS):
            return BindAnswer(dn, BindResult.REFUSED, f"The directory refused the bind as "
                                                      f"{dn}: {_info(exc)}.",
                              reason=f"refused: {_info(exc)}")
        return BindAnswer(dn, BindResult.WRONG_PASSWORD,
                          f"The directory refused the password for {dn}: wrong password. Try "
                          "again with the correct password.", reason="wrong password")
    policy = _policy_of(controls)
    if policy is not None and policy.error == 2:  # changeAfterReset
        return BindAnswer(dn, BindResult.MUST_CHANGE,
                          f"The password of {dn} was reset by an administrator and must be "
                          "changed on the directory before it can be used.",
                          person="Your directory password was reset by an administrator and "
                                 "must be changed.",
                          reason="password must change after reset (ppolicy)")
    if policy is not None and policy.error == 0:
        return BindAnswer(dn, BindResult.EXPIRED,
                          f"The password of {dn} has expired on the directory. It must be "
                          "changed there.", person="Your directory password has expired.",
                          reason="password expired (ppolicy)")
    if policy is not None and policy.graceAuthNsRemaining is not None:
        left = policy.graceAuthNsRemaining
        return BindAnswer(dn, BindResult.ACCEPTED,
                          f"Bound as {dn}, but the password has expired: {left} grace "
                          "sign-in(s) left. Change it soon.",
                          person=f"Your directory password has expired: you can sign in {left} "
                                 "more time(s) with it. Change it now.",
                          reason=f"grace sign-in, {left} left (ppolicy)", grace_left=left)
    if policy is not None and policy.timeBeforeExpiration is not None:
        seconds = policy.timeBeforeExpiration
        days = max(1, round(seconds / 86400))
        return BindAnswer(dn, BindResult.ACCEPTED,
                          f"Bound as {dn}; the password expires in {seconds} seconds.",
                          person=f"Your directory password expires in about {days} day(s). "
                                 "Change it soon.",
                          reason=f"password expires in {seconds}s (ppolicy)",
                          expires_in_seconds=seconds)
    return BindAnswer(dn, BindResult.ACCEPTED, f"Bound as {dn}.")


def check_connection(settings: ConnectionSettings, *, username: str | None = None,
                     password: Secret | None = None, kind: str = "openldap") -> list[Step]:
    """Run each step in order and stop at the first failure; the last step says why.

    Without a ``username`` the check ends after the service bind; without a
    ``password`` it ends after finding the user. The steps are the ones a
    sign-in takes (``sign_in``), with the same functions.
    """
    steps: list[Step] = []
    try:
        addresses = _resolve(settings)
        steps.append(Step("DNS", True, f"{settings.host} resolves to "
                                       f"{', '.join(sorted({a[4][0] for a in addresses}))}."))
        address = _tcp_connect(settings, addresses)
        steps.append(Step("TCP connect", True, f"Connected to {address} port {settings.port}."))
        conn = open_connection(settings)
        try:
            if settings.method is Method.PLAIN:
                steps.append(Step("TLS", True, "Not used: the plain method sends passwords "
                                               "in clear. Choose LDAPS or StartTLS."))
            else:
                steps.append(Step("TLS", True, f"{settings.method.name} established; the "
                                               "server's certificate is trusted."))
            steps.append(Step("Service bind", True, service_bind(settings, conn)))
            if username is None:
                return steps
            dn, _ = find_user(settings, conn, username)
            steps.append(Step("Search", True, f"Found {dn}."))
            if password is None:
                return steps
            answer = user_bind(settings, conn, dn, password, kind=kind)
            steps.append(Step("User bind", answer.result is BindResult.ACCEPTED, answer.detail))
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
