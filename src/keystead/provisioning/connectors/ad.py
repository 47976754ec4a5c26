"""The Active Directory connector: LDAP, with AD's own password and enable forms.

Settings are the LDAP connector's (``url``, ``starttls``, ``ca_pem``, ``bind_dn``,
``base_dn``, ``timeout``) with AD's defaults, plus:

``name_attribute``  the naming attribute of an account's DN (default ``cn``); the
                    account's name is also written to ``sAMAccountName``
``upn_suffix``      if set (``@example.org``), ``userPrincipalName`` is NAME + suffix
``object_classes``  default ``["top", "person", "organizationalPerson", "user"]``

AD keeps passwords in ``unicodePwd``, which it accepts only over LDAPS or
StartTLS, as the password in double quotes encoded UTF-16LE
(``keystead.sources.ldap.active_directory.password_change_modlist``). A
password from Keystead is an administrator's **reset** (a replace); when the
operation also carries the account's current password (``CURRENT_PASSWORD``)
it is the person's own **change** (delete the old value, add the new one),
which AD checks against the old password and the domain's history rules.

An update carrying ``__NAME__`` renames the account first: the entry moves to
its new DN (modrdn), then gets the new ``sAMAccountName`` (and
``userPrincipalName``); an entry found already under the new DN counts as
moved, so a retry is harmless.

Enable and disable flip the ACCOUNTDISABLE bit of ``userAccountControl``,
keeping the other bits. A new account is created disabled and enabled only
once its password is set, as AD requires a password before an account may be
enabled; a create sent twice updates the entry and sets the password again.

AD's refusal of a password (too short, not complex enough, in the history)
comes back as a permanent ``PasswordRefused`` naming the domain's rules; its
text is AD's, never the password.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import ldap
import ldap.dn
import ldap.modlist

from keystead.provisioning.connectors.base import (
    ENABLE,
    NAME,
    PASSWORD,
    Connector,
    ConnectorError,
    SettingsError,
)
from keystead.provisioning.connectors.ldap import LdapConnector, _describe
from keystead.secret import Secret
from keystead.sources.ldap.active_directory import (
    ProtectionRequired,
    password_change_modlist,
    require_protected,
)
from keystead.sources.ldap.connection import ConnectionSettings, Method

#: The account's current password, for a person's own change (delete + add).
CURRENT_PASSWORD = "__CURRENT_PASSWORD__"
#: userAccountControl bits: the account is disabled; an ordinary user account.
ACCOUNTDISABLE = 0x0002
NORMAL_ACCOUNT = 0x0200
#: AD's extended error for a password that breaks the domain's rules (in the diagnostic).
_PASSWORD_RULES = ("0000052D", "check_password_restrictions")
_NEVER_READ = frozenset({"unicodepwd", "userpassword", "dbcspwd", "ntpwdhistory",
                         "lmpwdhistory", "supplementalcredentials"})


class PasswordRefused(ConnectorError):
    """AD refused the password under the domain's rules; retrying the same one cannot help."""

    def __init__(self, detail: str) -> None:
        super().__init__("Active Directory refused the password: it does not meet the "
                         "domain's password rules (minimum length, complexity, history or "
                         f"minimum age). Choose another password. AD said: {detail}",
                         permanent=True)


def _refusal(exc: ldap.LDAPError, doing: str) -> ConnectorError:
    text = _describe(exc)
    if any(marker.lower() in text.lower() for marker in _PASSWORD_RULES):
        return PasswordRefused(text)
    permanent = isinstance(exc, ldap.CONSTRAINT_VIOLATION | ldap.UNWILLING_TO_PERFORM
                           | ldap.OBJECT_CLASS_VIOLATION | ldap.INSUFFICIENT_ACCESS
                           | ldap.INVALID_SYNTAX | ldap.UNDEFINED_TYPE)
    return ConnectorError(f"Active Directory {doing} failed: {text}", permanent=permanent)


class ActiveDirectoryConnector(LdapConnector):
    type = "ad"
    #: AD writes its own way (unicodePwd, userAccountControl read before it is changed):
    #: a batch runs one request at a time through the methods below, not the LDAP pipeline.
    run_many = Connector.run_many

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Secret]) -> None:
        merged = {"name_attribute": "cn",
                  "object_classes": ["top", "person", "organizationalPerson", "user"],
                  "disable_mode": "none", **dict(settings)}
        super().__init__(merged, secrets)
        url = str(self.settings["url"])
        method = (Method.LDAPS if url.lower().startswith("ldaps://")
                  else Method.STARTTLS if self.settings.get("starttls") else Method.PLAIN)
        try:
            require_protected(ConnectionSettings(host="", port=0, method=method,
                                                 base_dn=str(self.settings["base_dn"])))
        except ProtectionRequired:
            raise SettingsError(
                "Active Directory accepts passwords only over an encrypted connection; set "
                "'url' to ldaps://HOST:636, or keep ldap:// and set 'starttls' to true."
            ) from None
        self.upn_suffix = str(self.settings.get("upn_suffix") or "")

    # -- helpers ----------------------------------------------------------------------
    def _modify(self, doing: str, dn: str, changes: list) -> None:
        conn = self._connect()
        try:
            conn.modify_s(dn, changes)
        except ldap.SERVER_DOWN:
            self.close()
            try:
                self._connect().modify_s(dn, changes)
            except ldap.LDAPError as exc:
                raise _refusal(exc, doing) from None
        except ldap.LDAPError as exc:
            raise _refusal(exc, doing) from None

    def _account_control(self, dn: str) -> int:
        found = self._run("read of userAccountControl", lambda c: c.search_s(
            dn, ldap.SCOPE_BASE, attrlist=["userAccountControl"]))
        values = found[0][1].get("userAccountControl") if found else None
        return int(values[0]) if values else NORMAL_ACCOUNT

    def _set_enabled(self, dn: str, enabled: bool) -> None:
        current = self._account_control(dn)
        wanted = current & ~ACCOUNTDISABLE if enabled else current | ACCOUNTDISABLE
        if wanted != current:
            self._modify("enable" if enabled else "disable", dn, [
                (ldap.MOD_REPLACE, "userAccountControl", [str(wanted).encode()])])

    def _set_password(self, dn: str, password: Secret,
                      current: Secret | None = None) -> None:
        self._modify("password change" if current else "password reset", dn,
                     password_change_modlist(password, current))

    def _entry(self, name: str, attributes: Mapping[str, Any]) -> dict[str, list[bytes]]:
        plain = {key: value for key, value in self._plain(
            {k: v for k, v in attributes.items() if k != CURRENT_PASSWORD}).items() if value}
        plain["sAMAccountName"] = [name.encode()]
        if self.upn_suffix:
            plain["userPrincipalName"] = [f"{name}{self.upn_suffix}".encode()]
        return plain

    def _rename(self, name: str, new_name: str) -> str:
        """Move the entry to its new DN (modrdn), then give it the new ``sAMAccountName``
        (and ``userPrincipalName``); returns the new DN. An entry found only under the
        new DN was moved by an earlier attempt: its names are written again; one found
        under both is a clash a person must settle."""
        dn, new_dn = self.dn(name), self.dn(new_name)
        rdn = f"{self.name_attribute}={ldap.dn.escape_dn_chars(new_name)}"

        def move(conn: ldap.ldapobject.LDAPObject) -> bool:
            try:
                conn.rename_s(dn, rdn, None, 1)
            except ldap.NO_SUCH_OBJECT:
                return False
            except ldap.ALREADY_EXISTS:  # as the LDAP connector: no retry can help
                raise ConnectorError(
                    f"Active Directory rename failed: {new_dn} already exists beside {dn}; "
                    "remove or rename one of them in the domain, then retry.",
                    permanent=True) from None
            return True

        if not self._run("rename", move) and super().read(new_name) is None:
            raise ConnectorError(f"Active Directory rename failed: neither {dn} nor {new_dn} "
                                 "exists; reconcile the system to create the account again.",
                                 permanent=True)
        names = {"sAMAccountName": [new_name.encode()]}
        if self.upn_suffix:
            names["userPrincipalName"] = [f"{new_name}{self.upn_suffix}".encode()]
        self._modify("rename", new_dn, [(ldap.MOD_REPLACE, key, value)
                                        for key, value in names.items()])
        return new_dn

    # -- the interface ----------------------------------------------------------------
    def read(self, name: str) -> dict[str, Any] | None:
        found = super().read(name)
        if found is None:
            return None
        return {key: value for key, value in found.items() if key.lower() not in _NEVER_READ}

    def accounts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, found in super().accounts():
            yield name, {key: value for key, value in found.items()
                         if key.lower() not in _NEVER_READ}

    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        dn = self.dn(name)
        entry = self._entry(name, attributes)
        entry["objectClass"] = [c.encode() for c in self.object_classes]
        entry[self.name_attribute] = [name.encode()]
        entry["userAccountControl"] = [str(NORMAL_ACCOUNT | ACCOUNTDISABLE).encode()]
        conn = self._connect()
        try:
            conn.add_s(dn, ldap.modlist.addModlist(entry))
        except ldap.ALREADY_EXISTS:
            # A retry, or an account made by hand: make it what Keystead says.
            keep = {"objectClass", self.name_attribute, "userAccountControl"}
            changes = [(ldap.MOD_REPLACE, key, value) for key, value in entry.items()
                       if key not in keep]
            if changes:
                self._modify("update", dn, changes)
        except ldap.LDAPError as exc:
            raise _refusal(exc, "create") from None
        password = attributes.get(PASSWORD)
        if isinstance(password, Secret):
            self._set_password(dn, password)
        if attributes.get(ENABLE, isinstance(password, Secret)):
            self._set_enabled(dn, True)
        elif ENABLE in attributes:
            self._set_enabled(dn, False)
        return dn

    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        dn = self.dn(name)
        new_name = attributes.get(NAME)
        if new_name and new_name != name:
            dn = self._rename(name, str(new_name))
        entry = self._entry(name, attributes)
        entry.pop("sAMAccountName", None)
        entry.pop("userPrincipalName", None)
        changes = [(ldap.MOD_REPLACE, key, value) for key, value in entry.items()
                   if key != self.name_attribute]
        if changes:
            self._modify("update", dn, changes)
        password = attributes.get(PASSWORD)
        if isinstance(password, Secret):
            current = attributes.get(CURRENT_PASSWORD)
            self._set_password(dn, password, current if isinstance(current, Secret) else None)
        if ENABLE in attributes:
            self._set_enabled(dn, bool(attributes[ENABLE]))
        return dn
