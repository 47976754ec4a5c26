"""Importing one page of person entries: create, update, link, refuse.

Each entry goes through the directory services with the sync's actor, so the
same rules, authorization and audit apply as for a person an administrator
types in. An entry is matched by the source's unique identifier (entryUUID,
objectGUID), which survives renames; failing that, a *local* person with the
same email is linked (taken over by the directory), and the report names
them. A person of another source with that email is never taken over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from keystead.directory import services
from keystead.directory.authorization import Actor
from keystead.directory.models import Source, User, UserKey
from keystead.directory.rules import FieldProblem, RuleViolation, normalize_email
from keystead.sources.ldap.mapping import Entry, PersonFields, person_from_entry
from keystead.sources.ldap.models import LdapPersonLink, LdapSource
from keystead.sources.ldap.paging import normal_dn
from keystead.sources.ldap.sync_report import SyncReport

DOOR = "ldap-sync"


def sync_actor(source: LdapSource) -> Actor:
    """Who a sync acts as: it may create and change people, nothing more. It is not a
    superuser, so an account with console access (a break-glass administrator) is
    never changed, linked or disabled by a directory."""
    return Actor(label=f"LDAP sync ({source.name})",
                 permissions=frozenset({"directory.add_user", "directory.change_user"}))


def why(exc: Exception) -> str:
    """A refusal in the services' own words (they name the field and the fix)."""
    if isinstance(exc, RuleViolation):
        return "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
    return str(exc)


def _values(fields: PersonFields) -> dict[str, Any]:
    values: dict[str, Any] = {"email": fields.email, "given_name": fields.given_name,
                              "family_name": fields.family_name}
    if fields.username:
        values["username"] = fields.username
    return values


def _differs(user: User, values: dict[str, Any]) -> bool:
    current = {"email": user.email, "given_name": user.given_name,
               "family_name": user.family_name, "username": user.username}
    wanted = {**values, "email": normalize_email(values["email"])}
    return any(current[k] != (v.strip() if k != "username" else v) for k, v in wanted.items())


class PeoplePage:
    """Applies one page of entries; ``seen_users`` collects who was seen, for the full
    pass's "gone" check."""

    def __init__(self, source: LdapSource, report: SyncReport, seen_at: datetime,
                 on_stamp: Callable[[Entry], None]) -> None:
        self.source = source
        self.report = report
        self.seen_at = seen_at
        self.on_stamp = on_stamp
        self.actor = sync_actor(source)

    def apply(self, page: list[tuple[str, Entry]]) -> None:
        read = [(dn, entry, person_from_entry(self.source, entry)) for dn, entry in page]
        ids = [f.unique_id for _, _, f in read if f.unique_id]
        known = {u.source_id: u for u in User.objects.filter(
            source=Source.LDAP, source_id__in=ids).select_related("ldap_link")}
        seen: list[int] = []
        with transaction.atomic():
            for dn, entry, fields in read:
                self.report.count("seen")
                self.on_stamp(entry)
                user = known.get(fields.unique_id) if fields.unique_id else None
                if user is not None:
                    seen.append(user.pk)
                if fields.problems:
                    if user is not None:  # still in the directory: not "gone"
                        self._link(user, dn)
                    self.report.refuse(dn, " ".join(fields.problems))
                    continue
                try:
                    with transaction.atomic():
                        user = self._one(dn, fields, user)
                        self._link(user, dn)
                except (RuleViolation, PermissionDenied) as exc:
                    self.report.refuse(dn, why(exc))
                    continue
                seen.append(user.pk)
            LdapPersonLink.objects.filter(source=self.source, user_id__in=seen).update(
                last_seen_at=self.seen_at)

    def _one(self, dn: str, fields: PersonFields, user: User | None) -> User:
        values = _values(fields)
        if user is None:
            return self._create_or_link(fields, values)
        if _differs(user, values):
            services.update_user(user, values, actor=self.actor, door=DOOR)
            self.report.count("updated")
        else:
            self.report.count("unchanged")
        link = getattr(user, "ldap_link", None)
        if link is not None and link.disabled_by_sync and not user.is_active:
            services.set_active(user, True, actor=self.actor, door=DOOR)
            self.report.count("enabled")
        return user

    def _create_or_link(self, fields: PersonFields, values: dict[str, Any]) -> User:
        ours = {"source": Source.LDAP, "source_id": fields.unique_id}
        same_email = User.objects.identified_by(UserKey.EMAIL, fields.email).first()
        if same_email is None:
            user = services.create_user({**values, **ours}, actor=self.actor, door=DOOR)
            self.report.count("created")
            return user
        if same_email.source != Source.LOCAL:
            raise RuleViolation([FieldProblem(
                "email", f"{same_email.email} belongs to a person who comes from "
                         f"{same_email.get_source_display()} with another identifier; "
                         "one of the two entries has the wrong email.")])
        user = services.update_user(same_email, {**values, **ours}, actor=self.actor,
                                    door=DOOR)
        self.report.linked(user.email)
        return user

    def _link(self, user: User, dn: str) -> None:
        link = getattr(user, "ldap_link", None)
        if link is None:
            link = LdapPersonLink.objects.filter(user=user).first()
        if link is None:
            LdapPersonLink.objects.create(source=self.source, user=user, dn=dn,
                                          dn_key=normal_dn(dn), last_seen_at=self.seen_at)
            return
        if link.dn != dn or link.source_id != self.source.pk or link.disabled_by_sync:
            link.source, link.dn, link.dn_key = self.source, dn, normal_dn(dn)
            link.disabled_by_sync = False
            link.last_seen_at = self.seen_at
            link.save()


def disable_gone(source: LdapSource, report: SyncReport, seen_since: datetime) -> None:
    """After a full pass: disable (never delete) the people of this directory whose
    entries it no longer holds. People of the LDAP source without a link (made at
    sign-in, never seen by a sync) were not seen either."""
    actor = sync_actor(source)
    mine = User.objects.filter(source=Source.LDAP, is_active=True)
    gone = (mine.filter(ldap_link__source=source, ldap_link__last_seen_at__lt=seen_since)
            | mine.filter(ldap_link__isnull=True))
    for user in gone.order_by("pk").iterator(chunk_size=500):
        try:
            with transaction.atomic():
                services.set_active(user, False, actor=actor, door=DOOR)
                LdapPersonLink.objects.filter(user=user).update(disabled_by_sync=True)
        except (RuleViolation, PermissionDenied) as exc:
            link = LdapPersonLink.objects.filter(user=user).first()
            report.refuse(link.dn if link else user.email, f"Not disabled: {why(exc)}")
            continue
        report.count("disabled")
