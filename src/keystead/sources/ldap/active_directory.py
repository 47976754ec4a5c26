"""What is particular to Active Directory: its bind refusals and its password attribute.

AD answers every refused simple bind with the same result (49, invalid
credentials) and puts the real cause in the diagnostic text, as a hexadecimal
sub-code after ``data``::

    80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1

``bind_refusal`` turns that into a fixed reason for the audit log and the
console's test ("locked on the directory", not "wrong password") and plain
words for the person whose password has expired or must be changed. Samba's
AD DC sends the same text.

AD keeps passwords in ``unicodePwd``, which it accepts only over an encrypted
connection and only as the password in double quotes, encoded as UTF-16LE.
An administrator resets it with a replace; a person changing their own
password proves the old one with a delete of the old value and an add of the
new one in the same modify. ``password_change_modlist`` builds either;
``require_protected`` refuses a plain connection before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ldap

from keystead.secret import Secret

if TYPE_CHECKING:
    from keystead.sources.ldap.connection import ConnectionSettings

#: The ``kind`` of an LDAP source that is Active Directory (``LdapSource.kind``).
ACTIVE_DIRECTORY = "active_directory"

_SUB_CODE = re.compile(r"\bdata ([0-9a-fA-F]{1,8})\b")

_CONTACT = "Contact your help desk or administrator."


@dataclass(frozen=True)
class BindRefusal:
    """Why AD refused a bind.

    ``code`` is AD's sub-code as it sends it (lower-case hex, e.g. ``"775"``);
    ``reason`` is short and fixed, for the audit log; ``message`` is plain
    words for the person signing in. For ``52e`` (wrong password) and ``525``
    (no such user) the sign-in page must show its generic failure instead of
    ``message``, so that nobody learns which names exist; those two messages
    are for the console's test sign-in only. ``775`` (locked) comes whatever
    password was typed, so it too is shown to a person only as the generic
    failure. The others (532, 533, 701, 773) come only with the right password
    and may be shown.
    """

    code: str
    reason: str
    message: str


_REFUSALS: dict[str, tuple[str, str]] = {
    "525": ("unknown user", "The directory has no account with this name."),
    "52e": ("wrong password", "The password is not right for this account."),
    "530": ("sign-in not permitted at this time",
            "Your account may not sign in at this time of day. " + _CONTACT),
    "531": ("sign-in not permitted from this workstation",
            "Your account may not sign in from here. " + _CONTACT),
    "532": ("password expired on the directory", "Your directory password has expired."),
    "533": ("account disabled on the directory", "Your account is disabled. " + _CONTACT),
    "701": ("account expired on the directory", "Your account has expired. " + _CONTACT),
    "773": ("password must be changed on the directory",
            "Your directory password must be changed before you can sign in."),
    "775": ("locked on the directory",
            "Your account is locked after too many failed sign-ins. Try again later, or ask "
            "your help desk to unlock it."),
}


def bind_refusal(exc: ldap.LDAPError) -> BindRefusal | None:
    """The AD refusal in ``exc``, or ``None`` if it carries no known sub-code.

    ``None`` also covers refusals that are not AD's (OpenLDAP's text has no
    ``data NNN``), so the caller falls back to its own reading.
    """
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    info = detail.get("info")
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    if not isinstance(info, str) or "AcceptSecurityContext" not in info:
        return None
    found = _SUB_CODE.search(info)
    if found is None:
        return None
    code = found.group(1).lower().lstrip("0") or "0"
    known = _REFUSALS.get(code)
    if known is None:
        return None
    reason, message = known
    return BindRefusal(code=code, reason=reason, message=message)


def _encode(password: Secret) -> bytes:
    """AD's form of a password value: in double quotes, as UTF-16LE."""
    return f'"{password.reveal()}"'.encode("utf-16-le")


def password_change_modlist(new: Secret, old: Secret | None) -> list:
    """The modify list that sets ``unicodePwd``, for ``LDAPObject.modify_s``.

    ``old is None`` is an administrator's reset (a replace, which needs the
    reset-password right on the entry); otherwise it is the person's own change
    (delete the old value, add the new one), which AD accepts only if the old
    password is right and the new one meets the domain's rules. The list holds
    the passwords in clear: hand it straight to the modify and never log it.
    """
    if not isinstance(new, Secret) or (old is not None and not isinstance(old, Secret)):
        raise TypeError("passwords for unicodePwd must be Secret values")
    if old is None:
        return [(ldap.MOD_REPLACE, "unicodePwd", [_encode(new)])]
    return [(ldap.MOD_DELETE, "unicodePwd", [_encode(old)]),
            (ldap.MOD_ADD, "unicodePwd", [_encode(new)])]


class ProtectionRequired(ValueError):
    """A password was to be written to AD over a connection that is not encrypted."""


def require_protected(settings: ConnectionSettings) -> None:
    """Refuse early when ``settings`` would send a new password over plain LDAP.

    AD answers ``unicodePwd`` over an unencrypted connection with an unhelpful
    "unwilling to perform"; this says what to change instead.
    """
    if str(settings.method) == "plain":
        raise ProtectionRequired(
            "Active Directory accepts passwords only over an encrypted connection, and "
            "'Connection method' is plain LDAP. Choose LDAPS (port 636) or StartTLS "
            "(port 389) to write passwords to the directory.")
