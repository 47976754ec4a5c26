"""When a person, group or role last changed (``updated_at``; SCIM ``meta.lastModified``).

A new record was last changed when it was created, to the microsecond. A person's
groups and roles are part of their record, so joining or leaving a group or a role,
its deletion or its new name moves the person's time too, whichever door made the change (the
console, the REST API, SCIM and the directory sync all call the services), in one
UPDATE however many people the change concerns.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Group, Role, User

pytestmark = pytest.mark.django_db
PAST = timezone.now() - timedelta(days=30)


def person(n: int) -> User:
    return User.objects.create_user(f"p{n}@example.com", "Given", f"Family {n}")


def people(count: int, start: int = 0) -> list[User]:
    return [person(start + i) for i in range(count)]


def backdate(*records: User | Group) -> None:
    """Set every ``updated_at`` far back, so that any change since shows."""
    User.objects.filter(pk__in=[r.pk for r in records if isinstance(r, User)]).update(
        updated_at=PAST)
    Group.objects.filter(pk__in=[r.pk for r in records if isinstance(r, Group)]).update(
        updated_at=PAST)


def moved(*records: User) -> set[str]:
    """The emails of those among ``records`` whose time moved since ``backdate``."""
    return {u.email for u in User.objects.filter(pk__in=[r.pk for r in records],
                                                 updated_at__gt=PAST)}


def test_a_new_record_was_last_modified_when_it_was_created():
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="x" * 20)
    bob = services.create_user({"email": "bob@example.com", "given_name": "Bob",
                                "family_name": "Builder"}, actor=OPERATOR)
    group = Group.objects.create(name="Staff")
    member = person(1)
    team = services.save_group(None, name="Team", member_ids=[member.pk], actor=OPERATOR)
    role = Role.objects.create(name="VPN")
    duty = services.save_role(None, name="Duty", user_ids=[member.pk], actor=OPERATOR)
    bulk = User.objects.bulk_create([User(email="eve@example.com", given_name="Eve",
                                          family_name="Example", password="!")])[0]
    for record in (ada, bob, bulk):
        stored = User.objects.get(pk=record.pk)
        assert stored.updated_at == stored.date_joined, record
    for record in (group, team, role, duty):
        stored = type(record).objects.get(pk=record.pk)
        assert stored.updated_at == stored.created_at, record


def test_a_later_save_still_moves_the_time():
    ada = person(1)
    backdate(ada)
    ada.refresh_from_db()
    ada.given_name = "Ada"
    ada.save()
    ada.refresh_from_db()
    assert ada.updated_at > PAST and ada.date_joined > PAST


def test_adding_and_removing_members_moves_those_who_joined_or_left():
    ada, bob, eve, zed = people(4)
    group = services.save_group(None, name="Staff", member_ids=[ada.pk, bob.pk],
                                actor=OPERATOR)
    backdate(ada, bob, eve, zed, group)
    services.change_group_members(group, add=[eve.pk], remove=[ada.pk], actor=OPERATOR)
    assert moved(ada, bob, eve, zed) == {ada.email, eve.email}
    group.refresh_from_db()
    for who in (ada, eve):
        who.refresh_from_db()
        assert who.updated_at == group.updated_at  # one moment for the whole change


def test_a_change_that_changes_nothing_moves_no_one():
    ada, bob = people(2)
    group = services.save_group(None, name="Staff", member_ids=[ada.pk], actor=OPERATOR)
    backdate(ada, bob, group)
    services.change_group_members(group, add=[ada.pk], remove=[bob.pk], actor=OPERATOR)
    group.refresh_from_db()
    assert moved(ada, bob) == set() and group.updated_at == PAST


def test_setting_the_member_list_moves_those_who_joined_or_left():
    ada, bob, eve, zed = people(4)
    group = services.save_group(None, name="Staff", member_ids=[ada.pk, bob.pk],
                                actor=OPERATOR)
    backdate(ada, bob, eve, zed)
    services.save_group(group, member_ids=[bob.pk, eve.pk], actor=OPERATOR)
    assert moved(ada, bob, eve, zed) == {ada.email, eve.email}


def test_renaming_or_deleting_a_group_moves_its_members():
    """Their groups read differently: another name, or one group fewer."""
    ada, bob, eve = people(3)
    group = services.save_group(None, name="Staff", member_ids=[ada.pk, bob.pk],
                                actor=OPERATOR)
    backdate(ada, bob, eve)
    services.save_group(group, name="Crew", description="changed too", actor=OPERATOR)
    assert moved(ada, bob, eve) == {ada.email, bob.email}
    backdate(ada, bob, eve)
    services.save_group(group, description="only the description", actor=OPERATOR)
    assert moved(ada, bob, eve) == set()
    services.delete_group(group, actor=OPERATOR)
    assert moved(ada, bob, eve) == {ada.email, bob.email}


def test_gaining_or_losing_a_role_its_rename_or_deletion_moves_its_holders():
    """A person's roles are part of their record in the REST API (``roles``)."""
    ada, bob, eve = people(3)
    role = services.save_role(None, name="VPN", user_ids=[ada.pk, bob.pk], actor=OPERATOR)
    backdate(ada, bob, eve)
    services.save_role(role, user_ids=[bob.pk, eve.pk], actor=OPERATOR)
    assert moved(ada, bob, eve) == {ada.email, eve.email}
    backdate(ada, bob, eve)
    services.save_role(role, description="only the description", actor=OPERATOR)
    assert moved(ada, bob, eve) == set()
    services.save_role(role, name="Remote access", actor=OPERATOR)
    assert moved(ada, bob, eve) == {bob.email, eve.email}
    backdate(ada, bob, eve)
    services.delete_role(role, actor=OPERATOR)
    assert moved(ada, bob, eve) == {bob.email, eve.email}


def test_the_console_moves_the_people_it_adds_or_removes(admin_user):
    ada, bob, eve = people(3)
    group = services.save_group(None, name="Staff", member_ids=[ada.pk], actor=OPERATOR)
    backdate(ada, bob, eve)
    console = Client()
    console.force_login(admin_user)
    answer = console.post(f"/admin/directory/group/{group.pk}/change/", {
        "name": "Staff", "description": "", "external_id": "", "members": f"{bob.pk}"})
    assert answer.status_code == 302, answer.content
    assert moved(ada, bob, eve) == {ada.email, bob.email}


def _user_updates(change) -> tuple[int, int]:
    """(UPDATE statements on people, all statements) that ``change`` issues."""
    with CaptureQueriesContext(connection) as queries:
        change()
    table = connection.ops.quote_name(User._meta.db_table)
    updates = [q["sql"] for q in queries if q["sql"].startswith(f"UPDATE {table}")]
    return len(updates), len(queries)


@pytest.mark.parametrize("how", ["add", "set", "delete"])
def test_a_membership_change_moves_everyone_in_one_update(how):
    """Set-based: one statement for the people, for three as for thirty."""
    counts = []
    for size, start in ((3, 0), (30, 100)):
        crowd = people(size, start)
        group = services.save_group(None, name=f"Group {size}", actor=OPERATOR)
        if how != "add":
            group.members.add(*crowd)
        change = {
            "add": lambda g=group, c=crowd: services.change_group_members(
                g, add=[u.pk for u in c], actor=OPERATOR),
            "set": lambda g=group: services.save_group(g, member_ids=[], actor=OPERATOR),
            "delete": lambda g=group: services.delete_group(g, actor=OPERATOR),
        }[how]
        backdate(*crowd)
        counts.append(_user_updates(change))
        assert moved(*crowd) == {u.email for u in crowd}
    (small_updates, small_all), (large_updates, large_all) = counts
    assert small_updates == large_updates == 1
    assert small_all == large_all
