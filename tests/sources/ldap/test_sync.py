"""Sync mode against a real slapd: import, incremental and full passes, refusals, the lock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ldap
import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from keystead.directory.models import Event, Group, Source, User
from keystead.secret import Secret
from keystead.sources.ldap.group_sync import ranged_values
from keystead.sources.ldap.models import LdapSource, Mode
from keystead.sources.ldap.paging import later, next_cursor, normal_dn, search_filter
from keystead.sources.ldap.sync import (
    _LOCK_CLASS,
    SyncAlreadyRunning,
    SyncFailed,
    due_pass,
    run_sync,
)
from keystead.sources.ldap.sync_report import describe

from .bulk import (
    SIZE_LIMIT,
    BulkSlapd,
    group_members,
    group_name,
    loaded_stamp,
    person_dn,
    person_ldif,
    start_bulk_slapd,
    stop_bulk_slapd,
    uid,
)
from .slapd import free_port

PEOPLE, GROUPS = 3000, 20


def source_for(server: BulkSlapd, **changes) -> LdapSource:
    source = LdapSource(name="Bulk directory", mode=Mode.SYNC, host=server.host,
                        port=server.port, method="plain", base_dn=server.people_dn,
                        bind_dn=server.service_dn, group_base_dn=server.groups_dn,
                        connect_timeout=3, operation_timeout=30)
    source.set_bind_password(Secret(server.service_password))
    for name, value in changes.items():
        setattr(source, name, value)
    source.save()
    return source


@pytest.fixture
def big() -> Iterator[BulkSlapd]:
    server = start_bulk_slapd(PEOPLE, GROUPS)
    try:
        yield server
    finally:
        stop_bulk_slapd(server)


NO_SN = 900
NO_MAIL = 901
LOCAL = 902
ADMIN = 903


@pytest.fixture
def small() -> Iterator[BulkSlapd]:
    """Ten people, two groups, and entries that must be refused or linked."""
    extra = "\n".join([
        person_ldif(NO_SN, family=None),
        person_ldif(NO_MAIL, mail=""),
        person_ldif(LOCAL, mail="local.person@example.com"),
        person_ldif(ADMIN, mail="root@example.com"),
    ])
    server = start_bulk_slapd(10, 2, extra_ldif=extra)
    try:
        yield server
    finally:
        stop_bulk_slapd(server)


@pytest.mark.slow
@pytest.mark.django_db
def test_import_then_incremental_then_full(big: BulkSlapd) -> None:
    # An unpaged search cannot read the directory: a sync that reads it all has paged.
    conn = big.service()
    with pytest.raises(ldap.SIZELIMIT_EXCEEDED):
        conn.search_s(big.people_dn, ldap.SCOPE_SUBTREE, "(uid=*)", ["uid"])
    conn.unbind_s()
    assert SIZE_LIMIT < PEOPLE

    source = source_for(big)
    seen: list[tuple[str, int]] = []
    first = run_sync(source, full=True, progress=lambda phase, n: seen.append((phase, n)))
    assert first.ok and first.error == ""
    counts = first.counts
    assert (counts["seen"], counts["created"], counts["refused"]) == (PEOPLE, PEOPLE, 0)
    assert (counts["groups_seen"], counts["groups_created"]) == (GROUPS, GROUPS)
    assert ("people", PEOPLE) in seen and ("groups", GROUPS) in seen
    assert len([s for s in seen if s[0] == "people"]) == PEOPLE // 500  # one call per page
    assert User.objects.filter(source=Source.LDAP, is_active=True).count() == PEOPLE

    person = User.objects.get(username=uid(42))
    assert (person.email, person.given_name, person.family_name) == (
        f"{uid(42)}@bulk.test", "Given42", "Person")
    assert person.source_id == big.entry_uuid(person_dn(42))
    assert not person.has_usable_password()  # the directory keeps the password
    team = Group.objects.get(name=group_name(2))
    members = set(team.members.values_list("username", flat=True))
    assert members == {uid(n) for n in group_members(2, GROUPS, PEOPLE)}
    assert team.description == "Team 2"
    source.refresh_from_db()
    assert source.sync_cursor == loaded_stamp(PEOPLE - 1)  # the latest change read
    assert source.last_full_sync_at is not None
    assert source.last_sync_report["counts"]["created"] == PEOPLE

    # Change five, delete three, add two on the directory.
    changed = [10, 11, 12, 13, 14]
    for n in changed:
        big.modify(person_dn(n), sn=f"Renamed{n}")
    big.modify(person_dn(15), mail="new.mail.15@bulk.test")  # replaces 14's sn change below
    changed = [10, 11, 12, 13, 15]
    big.modify(person_dn(14), sn="Person")  # back to what Keystead has: read, not changed
    for n in (20, 21, 22):
        big.delete(person_dn(n))
    big.add_person(PEOPLE, given="Newcomer")
    big.add_person(PEOPLE + 1, family="Latecomer")

    second = run_sync(source, full=False)
    c = second.counts
    # The 6 changed, the 2 added, and the last one read before (its stamp is the cursor,
    # read again so a change in that same second is not missed): not 3,000.
    assert c["seen"] == 9
    assert (c["updated"], c["created"], c["unchanged"], c["disabled"]) == (5, 2, 2, 0)
    assert c["groups_seen"] == 0
    assert User.objects.get(username=uid(10)).family_name == "Renamed10"
    assert User.objects.get(username=uid(15)).email == "new.mail.15@bulk.test"
    assert User.objects.get(username=uid(PEOPLE)).given_name == "Newcomer"
    assert User.objects.get(username=uid(20)).is_active  # an incremental pass sees no deletions
    event = Event.objects.filter(action="ldap_source.sync").order_by("-id").first()
    assert event.detail["updated"] == 5 and event.detail["created"] == 2
    assert event.detail["full"] is False and event.actor_label == "LDAP sync (Bulk directory)"
    source.refresh_from_db()
    assert source.sync_cursor > loaded_stamp(PEOPLE)

    third = run_sync(source, full=True)
    c = third.counts
    assert c["seen"] == PEOPLE - 3 + 2
    assert (c["disabled"], c["updated"], c["created"], c["refused"]) == (3, 0, 0, 0)
    assert c["unchanged"] == PEOPLE - 1
    gone = User.objects.filter(username__in=[uid(n) for n in (20, 21, 22)])
    assert [u.is_active for u in gone] == [False, False, False]
    assert User.objects.filter(is_active=False).count() == 3
    assert Event.objects.filter(action="user.deactivate").count() == 3


@pytest.mark.django_db
def test_refusals_and_linking(small: BulkSlapd, admin_user: User) -> None:
    local = User.objects.create_user("local.person@example.com", "Old", "Name")
    source = source_for(small)
    report = run_sync(source, full=True)
    reasons = {r.dn: r.reason for r in report.refusals}
    assert report.counts["refused"] == 3
    assert "no sn (mapped to family name)" in reasons[person_dn(NO_SN)]
    assert "no mail (mapped to email)" in reasons[person_dn(NO_MAIL)]
    assert "console access" in reasons[person_dn(ADMIN)]  # never taken over by a directory
    admin_user.refresh_from_db()
    assert admin_user.source == Source.LOCAL
    assert report.linked_people == ["local.person@example.com"]
    local.refresh_from_db()
    assert (local.source, local.given_name, local.username) == (
        Source.LDAP, f"Given{LOCAL}", uid(LOCAL))
    assert report.counts["created"] == 10
    assert source.last_sync_report["refusals"][0]["dn"].startswith("uid=")

    # A person whose entry is gone is disabled; when the entry comes back, enabled again.
    small.delete(person_dn(3))
    assert run_sync(source, full=True).counts["disabled"] == 1
    assert not User.objects.get(username=uid(3)).is_active
    small.add_person(3)  # a new entry: a new entryUUID, the same email
    again = run_sync(source, full=True)
    assert again.counts["refused"] == 4
    assert "another identifier" in {r.dn: r.reason for r in again.refusals}[person_dn(3)]


@pytest.mark.django_db
def test_unreachable_directory_keeps_the_cursor(small: BulkSlapd) -> None:
    source = source_for(small)
    run_sync(source, full=True)
    source.refresh_from_db()
    cursor, synced = source.sync_cursor, source.last_sync_at
    source.port = free_port()
    source.save()
    with pytest.raises(SyncFailed) as failed:
        run_sync(source, full=False)
    assert "could not be reached" in str(failed.value)
    source.refresh_from_db()
    assert (source.sync_cursor, source.last_sync_at) == (cursor, synced)
    assert source.last_sync_report["ok"] is False
    event = Event.objects.filter(action="ldap_source.sync").order_by("-id").first()
    assert event.outcome == "failure" and "could not be reached" in event.detail["error"]


@pytest.mark.django_db
def test_second_sync_of_a_source_is_refused_while_one_runs(small: BulkSlapd) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the cross-process lock is PostgreSQL's advisory lock")
    source = source_for(small)
    settings = connection.settings_dict
    other = psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432,
                            user=settings["USER"], password=settings["PASSWORD"] or None,
                            dbname=settings["NAME"], autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, source.pk])
        with pytest.raises(SyncAlreadyRunning, match="already running"):
            run_sync(source, full=True)
        assert not User.objects.filter(source=Source.LDAP).exists()
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, source.pk])
        assert run_sync(source, full=True).counts["created"] == 12  # no local person in the way
    finally:
        other.close()


def test_which_pass_is_due() -> None:
    now = timezone.now()
    source = LdapSource(name="x", mode=Mode.SYNC, sync_interval_minutes=60)
    assert due_pass(source, now) is True  # never fully synced
    source.last_full_sync_at = source.last_sync_at = now - timedelta(minutes=30)
    assert due_pass(source, now) is None
    source.last_sync_at = now - timedelta(minutes=61)
    assert due_pass(source, now) is False
    source.last_full_sync_at = now - timedelta(days=1, minutes=1)
    assert due_pass(source, now) is True
    source.sync_interval_minutes = 0
    assert due_pass(source, now) is None
    source.sync_interval_minutes, source.mode = 60, Mode.READ_ONLY
    assert due_pass(source, now) is None


def test_filters_ask_only_for_changes() -> None:
    assert search_filter("(uid=*)", "") == "(uid=*)"
    assert search_filter("(uid=*)", "objectClass=inetOrgPerson",
                         change_attr="modifyTimestamp", since="20261206120000Z") == (
        "(&(uid=*)(objectClass=inetOrgPerson)(modifyTimestamp>=20261206120000Z))")
    assert search_filter("(cn=*)", change_attr="uSNChanged", since="a)(b") == (
        "(&(cn=*)(uSNChanged>=a\\29\\28b))")  # a stored cursor cannot widen the filter


def test_later_stamp() -> None:
    assert later("openldap", "", "20200101000000Z") == "20200101000000Z"
    assert later("openldap", "20200101000001Z", "20200101000000Z") == "20200101000001Z"
    assert later("active_directory", "9", "10") == "10"  # numbers, not text


def test_member_dns_match_however_written() -> None:
    assert normal_dn("UID=Ada, OU=People,dc=Example,DC=org") == (
        normal_dn("uid=ada,ou=people,dc=example,dc=org"))


def test_active_directory_ranged_members() -> None:
    entry = {"cn": [b"big"], "member;range=0-1499": [b"cn=a,dc=x", b"cn=b,dc=x"]}
    assert ranged_values(entry, "member") == (["cn=a,dc=x", "cn=b,dc=x"], "1499")
    assert ranged_values({"member;range=1500-*": [b"cn=c"]}, "member") == (["cn=c"], "*")
    assert ranged_values({"member": [b"cn=a"]}, "member") is None


def test_last_sync_in_one_line() -> None:
    assert describe({}) == "No sync has run yet."
    line = describe({"full": False, "ok": False, "error": "Service bind: wrong password.",
                     "started_at": "2026-12-06T20:00:00+00:00", "counts": {"seen": 3}})
    assert line.startswith("Incremental sync at 2026-12-06 20:00 UTC stopped: Service bind")
    assert "3 seen" in line


def test_the_next_pass_starts_where_no_change_made_during_this_one_is_passed_over() -> None:
    began = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    # A change read long before the pass began: the next pass starts there.
    assert next_cursor("openldap", "", "20261201080000Z", began) == "20261201080000Z"
    # Changes as recent as the pass itself: the next pass starts 5 minutes before this
    # one began, so an entry changed after its page was read is read again.
    assert next_cursor("openldap", "", "20261207120130Z", began) == "20261207115500Z"
    assert next_cursor("openldap", "", "20261207120130.123456Z", began) == (
        "20261207115500.000000Z")
    assert next_cursor("openldap", "20261207115900Z", "20261207120130Z", began) == (
        "20261207115900Z")  # never back before where this pass started
    assert next_cursor("openldap", "20261207115900Z", "", began) == "20261207115900Z"
    # Active Directory: the change number committed when the pass began, read first.
    assert next_cursor("active_directory", "100", "250", began, committed="180") == "180"
    assert next_cursor("active_directory", "100", "250", began) == "250"
