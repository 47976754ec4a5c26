"""Writable mode: a password set in Keystead is written to the directory first.

``directory.services.set_password`` calls ``write_password`` inside its
transaction, after Keystead's own policy accepted the password and before
anything is saved. If the directory refuses, ``RuleViolation`` (on the
``password`` field, in the directory's words) refuses the whole change, so
Keystead and the directory never disagree about a person's password.

OpenLDAP (any RFC 4511 server): the Password Modify extended operation
(RFC 3062). A person changing their own password binds as themselves and
proves the old password; a reset (an administrator, a reset link, the forced
change after sign-in) is made by the service account. Active Directory:
``unicodePwd`` over LDAPS or StartTLS, a replace for a reset and delete+add
for a person's own change (``active_directory.password_change_modlist``).
Passwords go only into the bind and the operation, never into a message.
"""

from __future__ import annotations

import logging
from contextlib import suppress

import ldap

from keystead.directory.models import Source, User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.secret import Secret
from keystead.sources.ldap.connection import (
    ConnectionSettings,
    StepFailed,
    open_connection,
    service_bind,
)
from keystead.sources.ldap.models import Kind, LdapSource, Mode
from keystead.sources.ldap.sign_in import dn_of_person

log = logging.getLogger(__name__)


def _refused(text: str) -> RuleViolation:
    return RuleViolation([FieldProblem("password", text, code="directory")])


def _info(exc: ldap.LDAPError) -> str:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(detail.get("info") or detail.get("desc") or type(exc).__name__)


def _write_openldap(settings: ConnectionSettings, conn, dn: str, password: Secret,
                    old: Secret | None, must_change: bool) -> None:
    if old is not None:
        conn.simple_bind_s(dn, old.reveal())
        conn.passwd_s(dn, old.reveal(), password.reveal())
        return
    service_bind(settings, conn)
    conn.passwd_s(dn, None, password.reveal())
    if not must_change:
        # A reset by someone else leaves ppolicy's "must change" mark (pwdMustChange);
        # Keystead decides that itself (``must_change``), so the mark goes.
        with suppress(ldap.NO_SUCH_ATTRIBUTE, ldap.INSUFFICIENT_ACCESS,
                      ldap.UNWILLING_TO_PERFORM, ldap.CONSTRAINT_VIOLATION):
            conn.modify_s(dn, [(ldap.MOD_DELETE, "pwdReset", None)])


def _write_active_directory(settings: ConnectionSettings, conn, dn: str, password: Secret,
                            old: Secret | None) -> None:
    from keystead.sources.ldap.active_directory import password_change_modlist

    if old is not None:
        conn.simple_bind_s(dn, old.reveal())
    else:
        service_bind(settings, conn)
    conn.modify_s(dn, password_change_modlist(password, old))


def write_password(user: User, password: Secret, *, user_change: bool,
                   old_password: Secret | None = None, must_change: bool = False) -> bool:
    """Write ``password`` to the directory entry of ``user`` if the enabled source is
    writable and the person came from it; True if written. ``user_change``: the person
    changes their own password (with ``old_password`` when it is known)."""
    if user.source != Source.LDAP or not user.source_id:
        return False
    source = LdapSource.active()
    if source is None or source.mode != Mode.WRITABLE:
        return False
    settings = source.connection_settings()
    old = old_password if user_change and old_password else None
    if source.kind == Kind.ACTIVE_DIRECTORY:
        from keystead.sources.ldap.active_directory import ProtectionRequired, require_protected

        try:
            require_protected(settings)
        except ProtectionRequired as exc:
            raise _refused(str(exc)) from None
    try:
        dn = dn_of_person(source, user.source_id)
        if dn is None:
            raise _refused("Your entry was not found in the directory, so the password was "
                           "not changed. Ask your administrator to check the LDAP source.")
        conn = open_connection(settings)
        try:
            if source.kind == Kind.ACTIVE_DIRECTORY:
                _write_active_directory(settings, conn, dn, password, old)
            else:
                _write_openldap(settings, conn, dn, password, old, must_change)
        finally:
            with suppress(ldap.LDAPError):
                conn.unbind_ext_s()
    except StepFailed as failed:
        log.warning("Password not written to LDAP source %s: %s", source.name,
                    failed.step.message)
        raise _refused("The directory cannot be reached, so the password was not changed. "
                       "Try again later.") from None
    except ldap.INVALID_CREDENTIALS:
        raise _refused("The directory did not accept the current password, so the new one "
                       "was not set.") from None
    except ldap.INSUFFICIENT_ACCESS:
        raise _refused(f"The directory does not let {'you' if old else 'Keystead'} change this "
                       "password (insufficient access). An administrator must allow it on "
                       "the directory.") from None
    except (ldap.CONSTRAINT_VIOLATION, ldap.UNWILLING_TO_PERFORM) as exc:
        raise _refused(f"The directory refused the new password ({_info(exc)}). Choose one "
                       "that also meets the directory's own rules.") from None
    except ldap.LDAPError as exc:
        log.warning("Password not written to LDAP source %s: %s", source.name,
                    type(exc).__name__)
        raise _refused(f"The directory could not change the password ({_info(exc)}), so "
                       "it was not changed. Try again later.") from None
    return True
