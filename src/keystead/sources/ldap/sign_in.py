"""Checking a person's password against the directory, and the person it belongs to.

Under the LDAP login strategy ``keystead.login.passwords`` asks
``check_password``; Keystead's own rules (lockout, throttle, second factor,
audit) stay there, on top of the directory's answer. The steps are those of
the console's check (``connection``): find the one entry through the
service account (a pooled connection), then bind as that entry on a
connection of its own. The password goes to the directory only; it is
never stored or hashed here.

No enumeration: an unknown name costs a search and a bind like a known
one (the bind is made against a name that does not exist), and a wrong
password, an unknown name and a locked directory account give the same
answer to the person. Answers the directory gives only to the right
password (expired, must change, disabled) are told in plain words.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

import ldap
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ldap.filter import escape_filter_chars

from keystead.directory import audit, services
from keystead.directory.authorization import NotAllowed
from keystead.directory.models import Source, User
from keystead.directory.rules import normalize_email, username_problems
from keystead.secret import Secret
from keystead.sources.ldap.connection import (
    BindAnswer,
    BindResult,
    ConnectionSettings,
    StepFailed,
    find_user,
    open_connection,
    user_bind,
)
from keystead.sources.ldap.mapping import mapped_attributes, person_from_entry
from keystead.sources.ldap.models import LdapSource, Mode
from keystead.sources.ldap.people_sync import sync_actor
from keystead.sources.ldap.pool import pool_for

log = logging.getLogger(__name__)

UNAVAILABLE = ("Sign-in is not possible right now: the directory cannot be reached. Try "
               "again in a few minutes, or tell your administrator if it goes on.")
NOT_SET_UP = ("Your directory account is right, but Keystead cannot set up your account: "
              "{why} Ask your administrator.")
CHANGE_ON_DIRECTORY = " Change it with your organisation's usual tool, then sign in again."
#: A name no entry has: an unknown person's password is bound against it, so both cost the same.
NOBODY = "keystead-no-such-person"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    MUST_CHANGE = "must change"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class DirectoryAnswer:
    """The directory's verdict for the sign-in: ``reason`` for the audit event,
    ``message`` for the person ("" = the generic failure), ``warning`` to show
    after a successful sign-in, ``user`` the Keystead person of the entry."""

    outcome: Outcome
    reason: str
    user: User | None = None
    message: str = ""
    warning: str = ""
    wrong_password: bool = False


def _bind(settings: ConnectionSettings, kind: str, dn: str, password: Secret) -> BindAnswer:
    """A user bind on a connection of its own, closed straight after (see ``pool``)."""
    conn = open_connection(settings)
    try:
        return user_bind(settings, conn, dn, password, kind=kind)
    finally:
        with suppress(ldap.LDAPError):
            conn.unbind_ext_s()


def _unavailable(source: LdapSource, why: str) -> DirectoryAnswer:
    log.warning("LDAP sign-in through source %s failed: %s", source.name, why)
    return DirectoryAnswer(Outcome.UNAVAILABLE, f"directory unavailable: {why}",
                           message=UNAVAILABLE)


def _linked(unique_id: str) -> User | None:
    return User.objects.filter(source=Source.LDAP, source_id=unique_id).first() if unique_id \
        else None


def check_password(username: str, password: Secret, *, request: HttpRequest | None = None,
                   door: str = "portal") -> DirectoryAnswer:
    """Ask the enabled source whether ``password`` is ``username``'s; on the first
    accepted sign-in, create or link the Keystead person."""
    source = LdapSource.active()
    if source is None:
        return DirectoryAnswer(Outcome.UNAVAILABLE, "directory unavailable: the login "
                               "strategy is LDAP but no LDAP source is enabled",
                               message=UNAVAILABLE)
    settings = source.connection_settings()
    attributes = mapped_attributes(source)
    try:
        dn, entry = pool_for(source).run(
            lambda conn: find_user(settings, conn, username.strip(), attributes))
    except StepFailed as failed:
        if failed.code in ("not found", "ambiguous"):
            with suppress(StepFailed, ldap.LDAPError):
                _bind(settings, source.kind, f"{settings.user_key}={NOBODY},{settings.base_dn}",
                      password)
            reason = ("unknown user" if failed.code == "not found"
                      else "several directory entries match the name")
            return DirectoryAnswer(Outcome.REFUSED, reason)
        return _unavailable(source, failed.step.message)
    except ldap.LDAPError as exc:
        return _unavailable(source, f"search failed ({type(exc).__name__})")
    try:
        answer = _bind(settings, source.kind, dn, password)
    except StepFailed as failed:
        return _unavailable(source, failed.step.message)
    except ldap.LDAPError as exc:
        return _unavailable(source, f"bind failed ({type(exc).__name__})")
    fields = person_from_entry(source, entry)
    if not answer.password_proven:
        return DirectoryAnswer(Outcome.REFUSED, answer.reason or answer.result.value,
                               user=_linked(fields.unique_id),
                               wrong_password=answer.result is BindResult.WRONG_PASSWORD)
    writable = source.mode == Mode.WRITABLE
    if answer.result in (BindResult.DISABLED, BindResult.ACCOUNT_EXPIRED) or (
            answer.result in (BindResult.EXPIRED, BindResult.MUST_CHANGE) and not writable):
        message = answer.person + ("" if answer.result in (BindResult.DISABLED,
                                                           BindResult.ACCOUNT_EXPIRED)
                                   else CHANGE_ON_DIRECTORY)
        return DirectoryAnswer(Outcome.REFUSED, answer.reason or answer.result.value,
                               user=_linked(fields.unique_id), message=message)
    person, problem = person_for(source, dn, entry, request=request, door=door)
    if person is None:
        return DirectoryAnswer(Outcome.REFUSED, f"account not set up: {problem}",
                               message=NOT_SET_UP.format(why=problem))
    if answer.result is BindResult.ACCEPTED and writable and person.must_change_password:
        # Keystead set a temporary password on the directory (writable mode): its rule holds.
        return DirectoryAnswer(Outcome.MUST_CHANGE, "temporary password set in Keystead",
                               user=person, message="Your administrator requires you to "
                                                    "choose a new password.")
    if answer.result is BindResult.ACCEPTED:
        return DirectoryAnswer(Outcome.ACCEPTED, answer.reason, user=person,
                               warning=answer.person)
    return DirectoryAnswer(Outcome.MUST_CHANGE, answer.reason, user=person,
                           message=answer.person)


def person_for(source: LdapSource, dn: str, entry: dict, *, request: HttpRequest | None,
               door: str) -> tuple[User | None, str]:
    """The Keystead person of a directory entry: already linked, linked now by the same
    email (audited ``ldap_source.link``), or created now (audited ``user.create``).
    None and the reason when neither is possible."""
    fields = person_from_entry(source, entry)
    if not fields.unique_id:
        return None, (f"the directory entry has no {source.unique_id_attribute} (the "
                      "source's unique identifier).")
    existing = _linked(fields.unique_id)
    if existing is not None:
        return existing, ""
    if not fields.email:
        return None, f"the directory entry has no {source.email_attribute} (email)."
    email = normalize_email(fields.email)
    detail = {"door": door, "ldap_source": source.name, "dn": dn,
              "problems": list(fields.problems)}
    same = User.objects.filter(email=email).first()
    if same is not None:
        if same.source != Source.LOCAL and not (same.source == Source.LDAP
                                                and not same.source_id):
            return None, (f"the email {email} belongs to a person from another source "
                          f"({same.source}).")
        try:  # as the sync links: never an account with console access
            same = services.update_user(
                same, {"source": Source.LDAP, "source_id": fields.unique_id},
                actor=sync_actor(source), request=request, door=door)
        except NotAllowed:
            return None, (f"the email {email} belongs to an account with console access, "
                          "which a directory never takes over; administrators stay local "
                          "(marked break-glass to sign in with their Keystead password).")
        audit.record("ldap_source.link", request=request, actor_label="system", target=same,
                     detail={**detail, "unique_id": fields.unique_id})
        return same, ""
    username = fields.username
    if not username or username_problems(username) or User.objects.signing_in_as(
            username).exists():
        username = email
    if User.objects.signing_in_as(email).exists():
        return None, f"the email {email} is another person's user name."
    user = User(email=email, username=username, given_name=fields.given_name[:150],
                family_name=fields.family_name[:150], source=Source.LDAP,
                source_id=fields.unique_id)
    user.set_unusable_password()  # the password stays on the directory
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a parallel first sign-in of the same person won
        winner = _linked(fields.unique_id)
        return (winner, "") if winner else (None, "another account was created with the "
                                                  "same email or user name at the same moment.")
    audit.record("user.create", request=request, actor_label="system", target=user,
                 detail={**detail, "source": Source.LDAP, "unique_id": fields.unique_id})
    return user, ""


def dn_of_person(source: LdapSource, unique_id: str) -> str | None:
    """The DN of the entry whose unique identifier is ``unique_id`` (a person's
    ``source_id``), found through the pool; None if there is not exactly one."""
    settings = source.connection_settings()
    if source.unique_id_attribute.lower() == "objectguid":  # kept as text, searched as bytes
        raw = uuid.UUID(unique_id).bytes_le
        query = "(objectGUID=" + "".join(f"\\{b:02x}" for b in raw) + ")"
    else:
        query = f"({source.unique_id_attribute}={escape_filter_chars(unique_id)})"
    found = pool_for(source).run(lambda conn: conn.search_ext_s(
        settings.base_dn, ldap.SCOPE_SUBTREE, query, ["1.1"],
        timeout=settings.operation_timeout))
    entries = [dn for dn, _ in found if dn]
    return entries[0] if len(entries) == 1 else None


def password_accepted(user: User, password: Secret) -> bool:
    """Whether the directory takes ``password`` as ``user``'s current one (the portal's
    change form asks before a new password is set). False if it cannot be asked."""
    source = LdapSource.active()
    if source is None or not user.source_id:
        return False
    try:
        dn = dn_of_person(source, user.source_id)
        if dn is None:
            return False
        return _bind(source.connection_settings(), source.kind, dn, password).password_proven
    except (StepFailed, ldap.LDAPError, ValueError):
        return False
