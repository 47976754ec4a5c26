"""Sync mode: import a directory's people and groups into Keystead.

``run_sync`` reads the people under the source's base DN (its user key
present, its user filter matched) and then the groups under the group base
DN, page by page, so memory stays bounded however large the directory is.

* An *incremental* pass asks only for entries changed at or after the cursor
  (``modifyTimestamp`` on OpenLDAP, ``uSNChanged`` on Active Directory): the
  highest stamp the last successful pass saw. ``>=`` rather than ``>`` so a
  change made in the same second as the last one read is not missed; an
  entry read again without changes counts as unchanged.
* A *full* pass reads everything and then disables (never deletes) the
  people whose entries are gone, and empties groups that are gone. Deletions
  are invisible to change stamps, so only a full pass can see them.

The cursor advances only when a pass succeeds: a pass that fails half-way
has committed the pages it finished (each page is one transaction, each
entry a savepoint), and the next pass reads them again harmlessly.

Two passes over one source never run at once, across processes: on
PostgreSQL a session advisory lock keyed on the source is taken without
waiting (a second pass is refused at once); SQLite has a single writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

import ldap
from django.db import connection
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.sources.ldap.connection import (
    ConnectionSettings,
    StepFailed,
    open_connection,
    service_bind,
)
from keystead.sources.ldap.group_sync import GroupsPage, empty_gone, group_attributes
from keystead.sources.ldap.mapping import Entry, mapped_attributes
from keystead.sources.ldap.models import LdapSource, Mode
from keystead.sources.ldap.paging import (
    change_attribute,
    later,
    next_cursor,
    paged_search,
    search_filter,
)
from keystead.sources.ldap.people_sync import PeoplePage, disable_gone, sync_actor
from keystead.sources.ldap.sync_report import SyncReport

log = logging.getLogger(__name__)

#: Progress callback: the phase ("people" or "groups") and the entries seen so far in it.
Progress = Callable[[str, int], None]

#: First key of the advisory lock ("LDAP"); the second is the source's id.
_LOCK_CLASS = 0x4C444150
#: How often a full pass runs in the periodic sync.
FULL_PASS_EVERY = timedelta(days=1)


class SyncFailed(Exception):
    """The directory could not be read to the end; ``report`` says how far it got."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__(report.error)
        self.report = report


class SyncAlreadyRunning(Exception):
    """Another process is syncing this source right now."""


@contextmanager
def _exclusive(source: LdapSource) -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield  # SQLite: one writer at a time already
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, source.pk])
        (taken,) = cursor.fetchone()
    if not taken:
        raise SyncAlreadyRunning(f"A sync of the LDAP source {source.name!r} is already "
                                 "running; wait for it to finish.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, source.pk])


@contextmanager
def _connected(settings: ConnectionSettings) -> Iterator[ldap.ldapobject.LDAPObject]:
    """A connection of its own, bound as the service account: a pass holds it for
    minutes, so it does not borrow one from the sign-in pool."""
    conn = open_connection(settings)
    try:
        service_bind(settings, conn)
        yield conn
    finally:
        with suppress(ldap.LDAPError):
            conn.unbind_ext_s()


def _stamp_of(entry: Entry, attribute: str) -> str:
    for name, values in entry.items():
        if name.lower() == attribute.lower() and values:
            return values[0].decode("ascii", "replace").strip()
    return ""


def _ldap_error(exc: ldap.LDAPError, source: LdapSource) -> str:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    said = str(detail.get("info") or detail.get("desc") or type(exc).__name__)
    if isinstance(exc, ldap.NO_SUCH_OBJECT):
        return (f"A base DN does not exist on the server ({said}). Check 'Base DN' "
                f"({source.base_dn}) and 'Group base DN' ({source.group_base_dn or 'empty'}).")
    if isinstance(exc, ldap.FILTER_ERROR):
        return (f"The server refused the search filter ({said}). Check the user key, the "
                "user filter and the group filter.")
    if isinstance(exc, ldap.UNAVAILABLE_CRITICAL_EXTENSION):
        return ("The server does not support paged searches (RFC 2696), which a sync needs "
                "to read a large directory in bounded memory.")
    if isinstance(exc, ldap.SIZELIMIT_EXCEEDED):
        return (f"The server stopped the search at its size limit ({said}), even though it "
                "was paged. Allow the service account paged results beyond the size limit.")
    if isinstance(exc, ldap.TIMEOUT):
        return (f"The directory did not answer within {source.operation_timeout:g}s. Raise "
                "the operation timeout or check the server's load.")
    if isinstance(exc, ldap.SERVER_DOWN):
        return (f"The directory could not be reached or closed the connection ({said}). "
                "`keystead ldap test` shows which step fails.")
    return f"The directory answered with an error: {said}."


def run_sync(source: LdapSource, *, full: bool, progress: Progress | None = None) -> SyncReport:
    """One pass over ``source``; the report, or ``SyncFailed`` carrying it when the
    directory could not be read. ``SyncAlreadyRunning`` if another pass holds the source."""
    with _exclusive(source):
        source.refresh_from_db()  # the cursor as the last successful pass left it
        report = SyncReport(source=source.name, full=full, started_at=timezone.now(),
                            cursor_before=source.sync_cursor)
        try:
            _read(source, report, progress)
        except StepFailed as exc:
            report.error = f"{exc.step.name}: {exc.step.message}"
        except ldap.LDAPError as exc:
            report.error = _ldap_error(exc, source)
        if not report.error and full:
            _retire_gone(source, report)
        _finish(source, report)
    if report.error:
        raise SyncFailed(report)
    return report


def _read(source: LdapSource, report: SyncReport, progress: Progress | None) -> None:
    kind = source.kind
    change_attr = change_attribute(kind)
    since = "" if report.full else source.sync_cursor
    highest = [since]

    def on_stamp(entry: Entry) -> None:
        highest[0] = later(kind, highest[0], _stamp_of(entry, change_attr))

    timeout = source.operation_timeout
    with _connected(source.connection_settings()) as conn:
        committed = _committed_change_number(conn, timeout) if kind == "active_directory" \
            else ""
        people = PeoplePage(source, report, report.started_at, on_stamp)
        filter_text = search_filter(f"({source.user_key}=*)", source.user_filter,
                                    change_attr=change_attr, since=since)
        attributes = [*mapped_attributes(source), change_attr]
        for page in paged_search(conn, source.base_dn, filter_text, attributes,
                                 timeout=timeout):
            people.apply(page)
            if progress:
                progress("people", report.counts["seen"])
        if source.group_base_dn:
            groups = GroupsPage(conn, source, report, report.started_at, on_stamp)
            filter_text = search_filter(source.group_filter or "(objectClass=*)",
                                        change_attr=change_attr, since=since)
            for page in paged_search(conn, source.group_base_dn, filter_text,
                                     group_attributes(source, change_attr), timeout=timeout):
                groups.apply(page)
                if progress:
                    progress("groups", report.counts["groups_seen"])
    report.cursor_after = next_cursor(kind, since, highest[0], report.started_at, committed)


def _committed_change_number(conn, timeout: float) -> str:
    """Active Directory's ``highestCommittedUSN`` (RootDSE) now: every change made after
    this read gets a higher ``uSNChanged``."""
    found = conn.search_ext_s("", ldap.SCOPE_BASE, "(objectClass=*)",
                              ["highestCommittedUSN"], timeout=timeout)
    for _, attributes in found:
        for name, values in (attributes or {}).items():
            if name.lower() == "highestcommittedusn" and values:
                return values[0].decode("ascii", "replace").strip()
    return ""


def _retire_gone(source: LdapSource, report: SyncReport) -> None:
    """Disable people and empty groups gone from the directory, unless the pass saw
    nothing at all: a wrong filter must not disable everyone."""
    if report.counts["seen"] == 0:
        report.notes.append("The full pass found no people, so nobody was disabled. Check "
                            "the base DN, the user key and the user filter.")
    else:
        disable_gone(source, report, report.started_at)
    if source.group_base_dn and report.counts["groups_seen"] == 0:
        report.notes.append("The full pass found no groups, so no group was emptied. Check "
                            "the group base DN and the group filter.")
    elif source.group_base_dn:
        empty_gone(source, report, report.started_at)


def _finish(source: LdapSource, report: SyncReport) -> None:
    """Store the report on the source, advance the cursor if the pass succeeded, audit."""
    report.ok = not report.error
    report.finished_at = timezone.now()
    changes: dict = {"last_sync_report": report.summary()}
    if report.ok:
        changes.update(sync_cursor=report.cursor_after or source.sync_cursor,
                       last_sync_at=report.finished_at)
        if report.full:
            changes["last_full_sync_at"] = report.finished_at
    LdapSource.objects.filter(pk=source.pk).update(**changes)
    for name, value in changes.items():
        setattr(source, name, value)
    audit.record("ldap_source.sync", actor_label=sync_actor(source).label, target=source,
                 outcome=Outcome.SUCCESS if report.ok else Outcome.FAILURE,
                 detail=report.audit_detail())
    if not report.ok:
        log.warning("LDAP sync of %s failed: %s", source.name, report.error)


def due_pass(source: LdapSource, now: datetime) -> bool | None:
    """Which pass the periodic sync owes ``source`` at ``now``: True for a full pass
    (none yet, or the last one a day old), False for an incremental one (the
    interval has passed), None for nothing (not in sync mode, interval 0, or not due)."""
    if source.mode != Mode.SYNC or not source.enabled or source.sync_interval_minutes == 0:
        return None
    if source.last_full_sync_at is None or now - source.last_full_sync_at >= FULL_PASS_EVERY:
        return True
    last = source.last_sync_at or source.last_full_sync_at
    if now - last >= timedelta(minutes=source.sync_interval_minutes):
        return False
    return None
