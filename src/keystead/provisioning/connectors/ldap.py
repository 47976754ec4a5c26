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

An account's uid is its DN. ``create`` adds the entry or, if it exists,
replaces its attributes, then sets the password: running it twice leaves the
same entry and the same password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import ldap
import ldap.dn
import ldap.modlist
import ldap.schema
from ldap.controls import SimplePagedResultsControl

from keystead.provisioning.connectors.base import (
    ENABLE,
    PASSWORD,
    AttributeInfo,
    Connector,
    ConnectorError,
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
                 if key not in (PASSWORD, ENABLE) and not isinstance(value, Secret)}
        for key, value in attributes.items():
            if isinstance(value, Secret) and key != PASSWORD:
                plain[key] = [wire_bytes(value)]  # another password attribute, as given
        return plain

    def _set_password(self, dn: str, password: Secret) -> None:
        if self.password_mode == "exop":
            self._run("password set (RFC 3062)",
                      lambda c: c.passwd_s(dn, None, password.reveal()))
        else:
            hashed = HASHES[self.password_hash](password)
            self._run("password set", lambda c: c.modify_s(
                dn, [(ldap.MOD_REPLACE, "userPassword", [hashed])]))

    def _set_enabled(self, dn: str, enabled: bool) -> None:
        if self.disable_mode != "ppolicy":
            return
        if enabled:
            def unlock(conn: ldap.ldapobject.LDAPObject) -> None:
                with contextlib.suppress(ldap.NO_SUCH_ATTRIBUTE):
                    conn.modify_s(dn, [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)])

            self._run("enable", unlock)
        else:
            self._run("disable", lambda c: c.modify_s(
                dn, [(ldap.MOD_REPLACE, "pwdAccountLockedTime", [LOCKED_FOREVER])]))

    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        dn = self.dn(name)
        plain = self._plain(attributes)
        password = attributes.get(PASSWORD)
        entry = {key: value for key, value in plain.items() if value}
        entry["objectClass"] = [c.encode() for c in self.object_classes]
        entry[self.name_attribute] = [name.encode()]
        if isinstance(password, Secret) and self.password_mode == "hashed":
            entry["userPassword"] = [HASHES[self.password_hash](password)]

        def add(conn: ldap.ldapobject.LDAPObject) -> None:
            try:
                conn.add_s(dn, ldap.modlist.addModlist(entry))
            except ldap.ALREADY_EXISTS:
                # A retry, or an account made by hand: make it what Keystead says.
                changes = [(ldap.MOD_REPLACE, key, value) for key, value in entry.items()
                           if key != "objectClass" and key != self.name_attribute]
                if changes:
                    conn.modify_s(dn, changes)

        self._run("create", add)
        if isinstance(password, Secret) and self.password_mode == "exop":
            self._set_password(dn, password)
        if ENABLE in attributes:
            self._set_enabled(dn, bool(attributes[ENABLE]))
        return dn

    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        dn = self.dn(name)
        changes = [(ldap.MOD_REPLACE, key, value) for key, value in self._plain(attributes).items()
                   if key != self.name_attribute]
        if changes:
            self._run("update", lambda c: c.modify_s(dn, changes))
        password = attributes.get(PASSWORD)
        if isinstance(password, Secret):
            self._set_password(dn, password)
        if ENABLE in attributes:
            self._set_enabled(dn, bool(attributes[ENABLE]))
        return dn

    def delete(self, name: str) -> None:
        def remove(conn: ldap.ldapobject.LDAPObject) -> None:
            with contextlib.suppress(ldap.NO_SUCH_OBJECT):
                conn.delete_s(self.dn(name))

        self._run("delete", remove)
