"""The LDAP connector (python-ldap): OpenLDAP and any RFC 4511 server.

Settings (``System.settings``; the bind password is the system secret
``bind_password``):

``url``            ``ldap://host:389`` or ``ldaps://host:636``
``starttls``       true to negotiate TLS on an ``ldap://`` URL
``ca_pem``         PEM of the CA that issued the server's certificate (empty: system CAs)
``bind_dn``        the account Keystead writes as
``base_dn``        where accounts live, e.g. ``ou=people,dc=example,dc=org``
``name_attribute`` the naming attribute of an account's DN (default ``uid``)
``object_classes`` the object classes of a new account (default ``["inetOrgPerson"]``)
``password_mode``  ``exop`` (default): the Password Modify extended operation, RFC 3062,
                   so the server hashes by its own policy; ``hashed``: write
                   ``userPassword`` hashed here with ``password_hash``
``password_hash``  ``SSHA`` (any OpenLDAP) or ``ARGON2`` (needs slapd's argon2 module)
``disable_mode``   ``ppolicy`` (default): disabling sets ``pwdAccountLockedTime`` to
                   ``000001010000Z``, a permanent lock; ``none``: ``__ENABLE__`` is ignored
``timeout``        seconds to wait for a connection or an answer (default 10)
``pipeline``       requests in flight on the connection at once (default 100; 1 sends
                   one request at a time and waits for its answer)

An account's uid is its DN. ``create`` adds the entry or, if it exists,
replaces its attributes, then sets the password: running it twice leaves the
same entry and the same password. An update carrying ``__NAME__`` first
renames the entry (modrdn with the old naming value deleted), then writes the
rest to the new DN.

Every change is written as a short sequence of requests for one account (add,
then password set, then lock or unlock), a generator that yields each request
and receives its answer or has its error thrown in. ``run_many`` drives the
sequences of a whole batch over one connection with python-ldap's asynchronous
calls (``add_ext``, ``passwd``, ... return a message id, ``result3`` collects
the answer): the requests of different accounts are in flight together, and an
account's next request is sent only once the previous one has been answered, so
its order holds. ``create``, ``update`` and ``delete`` run the same sequences
for one account.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ldap
import ldap.dn
import ldap.modlist
import ldap.schema
import ldapurl
from ldap.controls import SimplePagedResultsControl

from keystead.provisioning.connectors.base import (
    CREATE,
    DELETE,
    ENABLE,
    NAME,
    PASSWORD,
    SPECIAL,
    AttributeInfo,
    Connector,
    ConnectorError,
    Outcome,
    Request,
    SettingsError,
)
from keystead.provisioning.secrets import wire_bytes
from keystead.secret import Secret
from keystead.sources.ldap.connection import ca_file

LOCKED_FOREVER = b"000001010000Z"
#: Refusals that the same request would meet again: retrying cannot help.
_PERMANENT = (ldap.OBJECT_CLASS_VIOLATION, ldap.INVALID_SYNTAX, ldap.UNDEFINED_TYPE,
              ldap.NAMING_VIOLATION, ldap.CONSTRAINT_VIOLATION, ldap.INVALID_DN_SYNTAX,
              ldap.UNWILLING_TO_PERFORM, ldap.INSUFFICIENT_ACCESS)
_NEVER_READ = frozenset({"userpassword", "unicodepwd"})


def _describe(exc: ldap.LDAPError) -> str:
    """The server's words (result name and diagnostic), never the request's values."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    words = detail.get("desc") or type(exc).__name__
    info = detail.get("info")
    return f"{words}: {info}" if info else str(words)


def _error(exc: ldap.LDAPError, doing: str) -> ConnectorError:
    return ConnectorError(f"LDAP {doing} failed: {_describe(exc)}",
                          permanent=isinstance(exc, _PERMANENT))


def ssha(password: Secret) -> bytes:
    """``{SSHA}``: salted SHA-1, the scheme every OpenLDAP verifies without a module."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.reveal().encode() + salt).digest()  # noqa: S324 - the format
    return b"{SSHA}" + base64.b64encode(digest + salt)


def argon2(password: Secret) -> bytes:
    """``{ARGON2}``: argon2id as slapd's argon2 module verifies it."""
    from argon2 import PasswordHasher

    return b"{ARGON2}" + PasswordHasher().hash(password.reveal()).encode()


HASHES = {"SSHA": ssha, "ARGON2": argon2}


@dataclass(frozen=True)
class Step:
    """One LDAP request of an account's sequence: what it does (for error messages) and
    how to send it on a connection (returns the message id)."""

    doing: str
    send: Callable[[ldap.ldapobject.LDAPObject], int]


#: An account's sequence: yields its requests, receives each answer (or has its
#: ``LDAPError`` thrown in), returns the account's uid.
Steps = Generator[Step, Any, str | None]


def _values(value: Any) -> list[bytes] | None:
    """An attribute value as python-ldap wants it; None or [] removes the attribute."""
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            item = "TRUE" if item else "FALSE"
        out.append(item if isinstance(item, bytes) else str(item).encode())
    return out or None


class LdapConnector(Connector):
    type = "ldap"

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Secret]) -> None:
        super().__init__(settings, secrets)
        for required in ("url", "base_dn"):
            if not self.settings.get(required):
                raise SettingsError(f"LDAP setting {required!r} is empty; set it on the system.")
        if not all(isinstance(url, str) and ldapurl.isLDAPUrl(url)
                   for url in str(self.settings["url"]).split()):
            raise SettingsError("LDAP setting 'url' must be an LDAP URL such as "
                                "ldaps://ldap.example.com or ldap://10.0.0.5:389.")
        self.name_attribute = self.settings.get("name_attribute") or "uid"
        self.object_classes = list(self.settings.get("object_classes") or ["inetOrgPerson"])
        self.password_mode = self.settings.get("password_mode") or "exop"
        if self.password_mode not in {"exop", "hashed"}:
            raise SettingsError("LDAP setting 'password_mode' must be 'exop' or 'hashed'.")
        self.password_hash = (self.settings.get("password_hash") or "SSHA").upper()
        if self.password_hash not in HASHES:
            raise SettingsError("LDAP setting 'password_hash' must be one of "
                                f"{', '.join(HASHES)}.")
        self.disable_mode = self.settings.get("disable_mode") or "ppolicy"
        self.timeout = float(self.settings.get("timeout") or 10)
        try:
            pipeline = self.settings.get("pipeline")
            self.pipeline = 100 if pipeline in (None, "") else int(pipeline)
        except (TypeError, ValueError):
            self.pipeline = 0
        if self.pipeline < 1:
            raise SettingsError("LDAP setting 'pipeline' must be a whole number of at least 1.")
        self._conn: ldap.ldapobject.LDAPObject | None = None

    # -- the connection -------------------------------------------------------------
    def _connect(self) -> ldap.ldapobject.LDAPObject:
        if self._conn is not None:
            return self._conn
        conn = ldap.initialize(self.settings["url"])
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, self.timeout)
        conn.set_option(ldap.OPT_TIMEOUT, self.timeout)
        with ca_file(self.settings.get("ca_pem") or "") as ca_path:
            if ca_path:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_path)
                conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
                conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
            try:
                if self.settings.get("starttls"):
                    conn.start_tls_s()
                password = self.secrets.get("bind_password")
                conn.simple_bind_s(self.settings.get("bind_dn") or "",
                                   password.reveal() if password else "")
            except ldap.LDAPError as exc:
                conn.unbind_s()
                raise _error(exc, "bind") from None
        self._conn = conn
        return conn

    def _run(self, doing: str, call, *args: Any) -> Any:
        """Run one request; a dropped connection is reopened once and the request repeated
        (every request here is safe to repeat)."""
        for again in (True, False):
            conn = self._connect()
            try:
                return call(conn, *args)
            except ldap.SERVER_DOWN as exc:
                self.close()
                if not again:
                    raise _error(exc, doing) from None
            except ldap.LDAPError as exc:
                raise _error(exc, doing) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(ldap.LDAPError):
                self._conn.unbind_s()
            self._conn = None

    def dn(self, name: str) -> str:
        return f"{self.name_attribute}={ldap.dn.escape_dn_chars(name)},{self.settings['base_dn']}"

    # -- the interface ----------------------------------------------------------------
    def test(self) -> None:
        self._run("search of the base DN", lambda c: c.search_s(
            self.settings["base_dn"], ldap.SCOPE_BASE, attrlist=["1.1"]))

    def schema(self) -> list[AttributeInfo]:
        def read(conn: ldap.ldapobject.LDAPObject) -> list[AttributeInfo]:
            subschema_dn = conn.search_subschemasubentry_s(self.settings["base_dn"])
            entry = conn.read_subschemasubentry_s(subschema_dn, ldap.schema.SCHEMA_ATTRS)
            schema = ldap.schema.SubSchema(entry)
            must, may = schema.attribute_types(self.object_classes)
            found = []
            for required, group in ((True, must), (False, may)):
                for attribute in group.values():
                    found.append(AttributeInfo(name=attribute.names[0], required=required,
                                               multivalued=not attribute.single_value))
            found.append(AttributeInfo(name=PASSWORD))
            found.append(AttributeInfo(name=ENABLE, type="boolean"))
            return sorted(found, key=lambda a: (not a.required, a.name.lower()))

        return self._run("schema read", read)

    def read(self, name: str) -> dict[str, Any] | None:
        def search(conn: ldap.ldapobject.LDAPObject) -> dict[str, Any] | None:
            try:
                found = conn.search_s(self.dn(name), ldap.SCOPE_BASE, attrlist=["*"])
            except ldap.NO_SUCH_OBJECT:
                return None
            _, attrs = found[0]
            return {key: [v.decode(errors="replace") for v in values]
                    for key, values in attrs.items() if key.lower() not in _NEVER_READ}

        return self._run("read", search)

    def accounts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The entries right under ``base_dn`` that have ``name_attribute``, read in pages
        (RFC 2696) so a server's size limit (AD: 1,000) does not cut the list short."""
        page = SimplePagedResultsControl(True, size=500, cookie="")
        while True:
            _, entries, _, controls = self._run("listing", lambda c: c.result3(c.search_ext(
                self.settings["base_dn"], ldap.SCOPE_ONELEVEL, f"({self.name_attribute}=*)",
                ["*"], serverctrls=[page])))
            for _, attrs in entries:
                if not isinstance(attrs, dict):
                    continue  # a search reference
                shown = {key: [v.decode(errors="replace") for v in values]
                         for key, values in attrs.items() if key.lower() not in _NEVER_READ}
                names = next((v for k, v in shown.items()
                              if k.lower() == self.name_attribute.lower()), [""])
                yield names[0], shown
            cookie = next((c.cookie for c in controls
                           if c.controlType == SimplePagedResultsControl.controlType), b"")
            if not cookie:
                return
            page.cookie = cookie

    def _plain(self, attributes: Mapping[str, Any]) -> dict[str, list[bytes] | None]:
        plain = {key: _values(value) for key, value in attributes.items()
                 if key not in SPECIAL and not isinstance(value, Secret)}
        for key, value in attributes.items():
            if isinstance(value, Secret) and key != PASSWORD:
                plain[key] = [wire_bytes(value)]  # another password attribute, as given
        return plain

    # -- the sequences of requests, one account each ------------------------------------
    def _password_steps(self, dn: str, password: Secret) -> Iterator[Step]:
        if self.password_mode == "exop":
            yield Step("password set (RFC 3062)",
                       lambda c: c.passwd(dn, None, password.reveal()))
        else:
            hashed = [HASHES[self.password_hash](password)]
            yield Step("password set", lambda c: c.modify_ext(
                dn, [(ldap.MOD_REPLACE, "userPassword", hashed)]))

    def _enable_steps(self, dn: str, enabled: bool) -> Generator[Step, Any, None]:
        if self.disable_mode != "ppolicy":
            return
        if enabled:
            with contextlib.suppress(ldap.NO_SUCH_ATTRIBUTE):  # not locked: nothing to undo
                yield Step("enable", lambda c: c.modify_ext(
                    dn, [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)]))
        else:
            yield Step("disable", lambda c: c.modify_ext(
                dn, [(ldap.MOD_REPLACE, "pwdAccountLockedTime", [LOCKED_FOREVER])]))

    def _create_steps(self, name: str, attributes: Mapping[str, Any]) -> Steps:
        dn = self.dn(name)
        plain = self._plain(attributes)
        password = attributes.get(PASSWORD)
        entry = {key: value for key, value in plain.items() if value}
        entry["objectClass"] = [c.encode() for c in self.object_classes]
        entry[self.name_attribute] = [name.encode()]
        if isinstance(password, Secret) and self.password_mode == "hashed":
            entry["userPassword"] = [HASHES[self.password_hash](password)]
        try:
            yield Step("create", lambda c: c.add_ext(dn, ldap.modlist.addModlist(entry)))
        except ldap.ALREADY_EXISTS:
            # A retry, or an account made by hand: make it what Keystead says.
            changes = [(ldap.MOD_REPLACE, key, value) for key, value in entry.items()
                       if key != "objectClass" and key != self.name_attribute]
            if changes:
                yield Step("create", lambda c: c.modify_ext(dn, changes))
        if isinstance(password, Secret) and self.password_mode == "exop":
            yield from self._password_steps(dn, password)
        if ENABLE in attributes:
            yield from self._enable_steps(dn, bool(attributes[ENABLE]))
        return dn

    def _rename_steps(self, name: str, new_name: str) -> Generator[Step, Any, str]:
        """Rename the entry (modrdn, the old naming value removed); returns the new DN.
        An entry already under the new DN and gone from the old one was renamed by an
        earlier attempt whose answer was lost: that is success."""
        dn, new_dn = self.dn(name), self.dn(new_name)
        rdn = f"{self.name_attribute}={ldap.dn.escape_dn_chars(new_name)}"
        try:
            yield Step("rename", lambda c: c.rename(dn, rdn, None, 1))
        except ldap.NO_SUCH_OBJECT:
            try:
                yield Step("rename", lambda c: c.search_ext(new_dn, ldap.SCOPE_BASE,
                                                            attrlist=["1.1"]))
            except ldap.NO_SUCH_OBJECT:
                raise ConnectorError(
                    f"LDAP rename failed: neither {dn} nor {new_dn} exists; reconcile the "
                    "system to create the account again.", permanent=True) from None
        except ldap.ALREADY_EXISTS:
            raise ConnectorError(
                f"LDAP rename failed: {new_dn} already exists beside {dn}; remove or rename "
                "one of them on the directory, then retry.", permanent=True) from None
        return new_dn

    def _update_steps(self, name: str, attributes: Mapping[str, Any]) -> Steps:
        dn = self.dn(name)
        new_name = attributes.get(NAME)
        if new_name and new_name != name:
            dn = yield from self._rename_steps(name, str(new_name))
        changes = [(ldap.MOD_REPLACE, key, value) for key, value in self._plain(attributes).items()
                   if key != self.name_attribute]
        if changes:
            yield Step("update", lambda c: c.modify_ext(dn, changes))
        password = attributes.get(PASSWORD)
        if isinstance(password, Secret):
            yield from self._password_steps(dn, password)
        if ENABLE in attributes:
            yield from self._enable_steps(dn, bool(attributes[ENABLE]))
        return dn

    def _delete_steps(self, name: str) -> Steps:
        dn = self.dn(name)
        with contextlib.suppress(ldap.NO_SUCH_OBJECT):  # already gone: deleted
            yield Step("delete", lambda c: c.delete_ext(dn))
        return None

    def _steps(self, request: Request) -> Steps:
        if request.action == CREATE:
            return self._create_steps(request.name, request.attributes)
        if request.action == DELETE:
            return self._delete_steps(request.name)
        return self._update_steps(request.name, request.attributes)

    # -- driving them ---------------------------------------------------------------
    def run_many(self, requests: Sequence[Request], *,
                 stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Run the requests' sequences side by side over one connection (see the module's
        docstring). Every request is started at once, so ``stop`` only matters before
        the first is sent. A dropped connection is reopened once per call and the
        requests in flight are sent again (each is safe to repeat)."""
        if stop is not None and stop():
            return []
        return _Pipeline(self, requests).run()

    def _one(self, request: Request) -> str | None:
        outcome = _Pipeline(self, [request]).run()[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        return self._one(Request(CREATE, name, attributes))  # type: ignore[return-value]

    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        return self._one(Request("update", name, attributes))  # type: ignore[return-value]

    def delete(self, name: str) -> None:
        self._one(Request(DELETE, name, {}))


class _Pipeline:
    """One ``run_many`` call: the sequences of a batch, their requests in flight, their
    outcomes. At most ``connector.pipeline`` requests are in flight; answers are
    collected in the order the requests were sent."""

    def __init__(self, connector: LdapConnector, requests: Sequence[Request]) -> None:
        self.connector = connector
        self.outcomes: list[Outcome] = [None] * len(requests)
        self.sequences: list[Steps | None] = []
        self.steps: dict[int, Step] = {}  # request index -> its request waiting to be sent
        self.queued: list[int] = []  # request indexes whose next request is to be sent
        self.in_flight: dict[int, int] = {}  # message id -> request index, in sending order
        for index, request in enumerate(requests):
            try:
                sequence = connector._steps(request)
            except Exception as exc:  # a bad request fails only itself
                self.outcomes[index] = exc
                self.sequences.append(None)
                continue
            self.sequences.append(sequence)
            self._advance(index, None, first=True)

    def _advance(self, index: int, answer: Any, *, first: bool = False) -> None:
        """Feed a request's answer (or error) to its sequence; queue its next request or
        record its outcome."""
        sequence = self.sequences[index]
        assert sequence is not None
        doing = self.steps[index].doing if index in self.steps else "request"
        try:
            if first:
                step = next(sequence)
            elif isinstance(answer, Exception):
                step = sequence.throw(answer)
            else:
                step = sequence.send(answer)
        except StopIteration as done:
            self.steps.pop(index, None)
            self.outcomes[index] = done.value
            return
        except ldap.LDAPError as exc:
            self.steps.pop(index, None)
            self.outcomes[index] = _error(exc, doing)
            return
        except Exception as exc:  # a bug fails only this request
            self.steps.pop(index, None)
            self.outcomes[index] = exc
            return
        self.steps[index] = step
        self.queued.append(index)

    def _fail_open(self, error: ConnectorError | None, exc: ldap.LDAPError | None) -> None:
        """Every request not yet answered fails (the connection cannot be had)."""
        for index in [*self.in_flight.values(), *self.queued]:
            step = self.steps.pop(index)
            self.outcomes[index] = error or _error(exc, step.doing)  # type: ignore[arg-type]
        self.in_flight.clear()
        self.queued.clear()

    def run(self) -> list[Outcome]:
        connector = self.connector
        reopened = False
        while self.queued or self.in_flight:
            try:
                conn = connector._connect()
            except ConnectorError as error:
                self._fail_open(error, None)
                break
            try:
                self._send(conn)
                if not self.in_flight:
                    continue
                msgid, index = next(iter(self.in_flight.items()))
                try:
                    answer = conn.result3(msgid, all=1, timeout=connector.timeout)
                except ldap.SERVER_DOWN:
                    raise
                except ldap.TIMEOUT as exc:
                    with contextlib.suppress(ldap.LDAPError):
                        conn.abandon_ext(msgid)
                    answer = exc
                except ldap.LDAPError as exc:
                    answer = exc
                del self.in_flight[msgid]
                self._advance(index, answer)
            except ldap.SERVER_DOWN as exc:
                connector.close()
                # The requests in flight are sent again on a new connection, in order.
                self.queued[:0] = list(self.in_flight.values())
                self.in_flight.clear()
                if reopened:
                    self._fail_open(None, exc)
                    break
                reopened = True
        return self.outcomes

    def _send(self, conn: ldap.ldapobject.LDAPObject) -> None:
        """Send queued requests while fewer than ``pipeline`` are in flight. A request that
        cannot be sent fails its own sequence; a dropped connection is the caller's."""
        while self.queued and len(self.in_flight) < self.connector.pipeline:
            index = self.queued[0]
            try:
                msgid = self.steps[index].send(conn)
            except ldap.SERVER_DOWN:
                raise
            except Exception as exc:  # refused before it left: that request fails
                self.queued.pop(0)
                self._advance(index, exc)
                continue
            self.queued.pop(0)
            self.in_flight[msgid] = index
