"""Importing one page of group entries: the group, its description and its members.

A directory group becomes a Keystead group of the same name, remembered in
``LdapGroupLink`` by the entry's unique identifier, so a renamed group stays
the same group. Its members are the people of this source whose entry DNs the
group lists (nested groups and people not imported are left out). The
directory is the authority on a linked group's membership; a Keystead group
of the same name that does not come from the directory is never taken over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import ldap
from django.db import transaction

from keystead.directory import services
from keystead.directory.authorization import Actor
from keystead.directory.models import Group
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.sources.ldap.mapping import Entry, unique_id_of
from keystead.sources.ldap.models import LdapGroupLink, LdapPersonLink, LdapSource
from keystead.sources.ldap.paging import normal_dn
from keystead.sources.ldap.people_sync import DOOR, why
from keystead.sources.ldap.sync_report import SyncReport

NAME_ATTRIBUTE = "cn"
DESCRIPTION_ATTRIBUTE = "description"
_CHUNK = 1000


def group_attributes(source: LdapSource, change_attr: str) -> list[str]:
    return list(dict.fromkeys([NAME_ATTRIBUTE, DESCRIPTION_ATTRIBUTE,
                               source.group_member_attribute, source.unique_id_attribute,
                               change_attr]))


def _values(entry: Entry, attribute: str) -> list[str]:
    """Every value of ``attribute`` (names are case-insensitive in LDAP)."""
    for name, values in entry.items():
        if name.lower() == attribute.lower():
            return [v.decode("utf-8", "replace").strip() for v in values]
    return []


def ranged_values(entry: Entry, attribute: str) -> tuple[list[str], str] | None:
    """The values of an attribute Active Directory returned in part, and where the part
    ends (``*`` for the last part): for more than 1,500 members it answers with
    ``member;range=0-1499`` instead of ``member``. None when not ranged."""
    prefix = f"{attribute.lower()};range="
    for name, values in entry.items():
        if name.lower().startswith(prefix):
            end = name[len(prefix):].partition("-")[2]
            return [v.decode("utf-8", "replace").strip() for v in values], end
    return None


def all_values(conn, dn: str, entry: Entry, attribute: str, timeout: float) -> list[str]:
    """Every value of ``attribute``, asking for the remaining ranges when the server
    sent only the first part (Active Directory's ranged retrieval)."""
    values = _values(entry, attribute)
    ranged = ranged_values(entry, attribute)
    while ranged is not None:
        part, end = ranged
        values.extend(part)
        if end == "*" or not end.isdigit():
            break
        found = conn.search_ext_s(dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                  [f"{attribute};range={int(end) + 1}-*"], timeout=timeout)
        ranged = next((ranged_values(e, attribute) for d, e in found if d), None)
    return values


def group_sync_actor(source: LdapSource) -> Actor:
    """Who a group sync acts as: it may create its groups and change them (names,
    descriptions, members), nothing more; it never deletes a group (``empty_gone``)."""
    return Actor(label=f"LDAP sync ({source.name})",
                 permissions=frozenset({"directory.add_group", "directory.change_group"}))


def member_ids(source: LdapSource, member_dns: Iterable[str]) -> set[int]:
    """The Keystead people of ``source`` whose entries the DNs name."""
    keys = sorted({normal_dn(dn) for dn in member_dns})
    found: set[int] = set()
    for start in range(0, len(keys), _CHUNK):
        found.update(LdapPersonLink.objects.filter(
            source=source, dn_key__in=keys[start:start + _CHUNK]).values_list("user_id",
                                                                               flat=True))
    return found


class GroupsPage:
    def __init__(self, conn, source: LdapSource, report: SyncReport, seen_at: datetime,
                 on_stamp: Callable[[Entry], None]) -> None:
        self.conn = conn
        self.source = source
        self.report = report
        self.seen_at = seen_at
        self.on_stamp = on_stamp
        self.actor = group_sync_actor(source)

    def apply(self, page: list[tuple[str, Entry]]) -> None:
        for dn, entry in page:
            self.report.count("groups_seen")
            self.on_stamp(entry)
            try:
                with transaction.atomic():
                    self._one(dn, entry)
            except RuleViolation as exc:
                self.report.refuse(dn, why(exc), group=True)

    def _one(self, dn: str, entry: Entry) -> None:
        unique_id = unique_id_of(entry, self.source.unique_id_attribute)
        names = _values(entry, NAME_ATTRIBUTE)
        if not unique_id or not names:
            missing = self.source.unique_id_attribute if not unique_id else NAME_ATTRIBUTE
            raise RuleViolation([FieldProblem(
                "name" if missing == NAME_ATTRIBUTE else "unique_id",
                f"The group entry has no {missing}; it cannot be imported.")])
        name = names[0]
        description = next(iter(_values(entry, DESCRIPTION_ATTRIBUTE)), "")
        member_dns = all_values(self.conn, dn, entry, self.source.group_member_attribute,
                                self.source.operation_timeout)
        members = member_ids(self.source, member_dns)
        link = (LdapGroupLink.objects.select_related("group")
                .filter(source=self.source, unique_id=unique_id).first())
        if link is None:
            if Group.objects.filter(name__iexact=name).exists():
                raise RuleViolation([FieldProblem(
                    "name", f"A Keystead group named {name!r} already exists and does not "
                            "come from this directory; rename one of the two.")])
            group = services.save_group(None, name=name, description=description,
                                        member_ids=sorted(members), actor=self.actor,
                                        door=DOOR)
            LdapGroupLink.objects.create(source=self.source, group=group, unique_id=unique_id,
                                         dn=dn, last_seen_at=self.seen_at)
            self.report.count("groups_created")
            return
        group = link.group
        current = set(group.members.values_list("pk", flat=True))
        if (group.name, group.description, current) != (name, description, members):
            services.save_group(group, name=name if name != group.name else None,
                                description=description, member_ids=sorted(members),
                                actor=self.actor, door=DOOR)
            self.report.count("groups_updated")
        else:
            self.report.count("groups_unchanged")
        LdapGroupLink.objects.filter(pk=link.pk).update(dn=dn, last_seen_at=self.seen_at)


def empty_gone(source: LdapSource, report: SyncReport, seen_since: datetime) -> None:
    """After a full pass: a group gone from the directory keeps its name (roles may
    point at it) but loses its members, so it grants nobody anything any more."""
    gone = LdapGroupLink.objects.filter(source=source, last_seen_at__lt=seen_since)
    for link in gone.select_related("group"):
        members = list(link.group.members.values_list("pk", flat=True))
        if members:
            services.change_group_members(link.group, remove=members,
                                          actor=group_sync_actor(source), door=DOOR)
            report.count("groups_emptied")
