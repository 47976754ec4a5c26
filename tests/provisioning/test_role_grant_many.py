"""Granting a role to many people at once: a fixed number of statements per batch, and
the same rules as for one person (scripts first, existing account rows, the queue's
flags and blocked heads, a concurrent creation of the same account)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from keystead.directory.models import Event, Group, Role, User
from keystead.directory.rules import RuleViolation
from keystead.provisioning import roles
from keystead.provisioning.models import (
    AccountState,
    ConnectorType,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    Reason,
    RoleSystem,
    State,
    System,
    SystemAccount,
)
from keystead.secret import Secret

from .mapped import map_person

pytestmark = pytest.mark.django_db


def _system(name: str = "directory", **flags: bool) -> System:
    """An LDAP system nothing connects to: these tests stop at the queue."""
    system = System(name=name, connector=ConnectorType.LDAP, **flags,
                    settings={"url": "ldap://127.0.0.1:9", "bind_dn": "cn=admin",
                              "base_dn": "ou=people", "name_attribute": "uid"})
    system.set_secrets({"bind_password": Secret("not used")})
    system.save()
    return system


def _role(name: str, *systems: System) -> Role:
    role = Role.objects.create(name=name)
    for system in systems:
        RoleSystem.objects.create(role=role, system=system)
    return role


def _group(name: str, count: int, start: int = 0) -> tuple[Group, list[User]]:
    people = User.objects.bulk_create([
        User(username=f"p{i}", email=f"p{i}@example.test", given_name="Person",
             family_name=f"Number {i}") for i in range(start, start + count)])
    group = Group.objects.create(name=name)
    group.members.add(*people)
    return group, people


@pytest.fixture
def system() -> System:
    system = _system()
    map_person(system, extra_password="userPassword")
    PasswordPolicy.objects.create(name="default", default_for_generation=True,
                                  generated_length=20)
    return system


@pytest.mark.parametrize("path", ["group", "direct"])
def test_the_statements_do_not_grow_with_the_number_of_people(system: System,
                                                              path: str) -> None:
    counts = []
    for size, start in ((5, 0), (50, 100)):
        role = _role(f"role {size}", system)
        group, people = _group(f"group {size}", size, start)
        with CaptureQueriesContext(connection) as queries:
            if path == "group":
                role.groups.add(group)
            else:
                role.users.add(*people)
        counts.append(len(queries))
        created = Operation.objects.filter(account__person__in=people, kind=Kind.CREATE)
        assert created.count() == size
    assert counts[0] == counts[1], counts


def test_each_account_gets_its_own_password_the_same_in_every_password_attribute(
        system: System) -> None:
    role = _role("engineering", system)
    group, people = _group("everyone", 3)
    role.groups.add(group)
    operations = list(Operation.objects.order_by("account_name"))
    assert [op.account_name for op in operations] == ["p0", "p1", "p2"]
    assert operations[0].attributes == {
        "cn": "Person Number 0", "sn": "Number 0", "mail": "p0@example.test",
        "description": "Keystead: p0"}
    generated = [op.password().reveal() for op in operations]
    assert len(set(generated)) == 3 and all(len(value) == 20 for value in generated)
    for op in operations:  # userPassword is {SSHA} of the account's own password
        assert op.secret_attributes()["userPassword"].reveal().startswith("{SSHA}")
        assert op.password_encrypted and op.password().reveal() not in op.password_encrypted
    assert {account.person_id for account in SystemAccount.objects.all()} == {
        person.pk for person in people}


def test_a_script_refusing_one_person_of_many_refuses_all_before_anything_is_written(
        system: System, monkeypatch) -> None:
    monkeypatch.setattr(roles, "BATCH", 7)  # several batches: the refusal is in the fourth
    password = MappedAttribute.objects.get(system=system, name="__PASSWORD__")
    password.script = 'user.username == "p23" ? "plain text" : value'
    password.save()
    role = _role("engineering", system)
    group, _ = _group("everyone", 30)
    with pytest.raises(RuleViolation) as refused, transaction.atomic():
        role.groups.add(group)
    assert "p23@example.test cannot be given an account" in refused.value.problems[0].message
    assert "must return a secret" in refused.value.problems[0].message
    assert not Operation.objects.exists() and not SystemAccount.objects.exists()
    assert not role.groups.exists()


def test_several_batches_queue_everyone_once(system: System, monkeypatch) -> None:
    monkeypatch.setattr(roles, "BATCH", 7)
    role = _role("engineering", system)
    group, people = _group("everyone", 30)
    role.groups.add(group)
    assert sorted(Operation.objects.values_list("account_name", flat=True)) == sorted(
        person.username for person in people)
    role.groups.remove(group)  # the default: disable, in batches too
    disables = Operation.objects.filter(kind=Kind.UPDATE, attributes={"__ENABLE__": False})
    assert disables.count() == 30


def test_existing_account_rows_keep_their_rules_beside_the_plain_ones(system: System) -> None:
    role = _role("engineering", system)
    group, people = _group("everyone", 6)
    by_name = {person.username: person for person in people}
    # p1's account was deleted: its row is reused for the new account.
    reused = SystemAccount.objects.create(system=system, name="p1", person=by_name["p1"],
                                          state=AccountState.DELETED)
    # p2's name is held by the row of a deleted person's account: p2 takes it over.
    orphan = SystemAccount.objects.create(system=system, name="p2", person=None,
                                          state=AccountState.PRESENT)
    role.groups.add(group)
    assert Operation.objects.filter(kind=Kind.CREATE).count() == 6
    reused.refresh_from_db()
    orphan.refresh_from_db()
    assert (reused.state, reused.person_id) == (AccountState.PLANNED, by_name["p1"].pk)
    assert orphan.person_id == by_name["p2"].pk
    assert Operation.objects.get(account_name="p1").account_id == reused.pk
    assert SystemAccount.objects.count() == 6


def test_a_name_still_held_by_someone_elses_account_refuses_the_whole_grant(
        system: System) -> None:
    role = _role("engineering", system)
    group, _ = _group("everyone", 6)
    renamed = User.objects.create_user("grace@example.test", "Grace", "Hopper",
                                       password=None, username="grace")
    # grace was p4 until a moment ago: her rename waits in the queue.
    SystemAccount.objects.create(system=system, name="p4", person=renamed,
                                 state=AccountState.PRESENT)
    with pytest.raises(RuleViolation) as refused, transaction.atomic():
        role.groups.add(group)
    assert refused.value.problems[0].code == "account_name"
    assert "p4@example.test" in refused.value.problems[0].message
    assert not Operation.objects.exists() and SystemAccount.objects.count() == 1


def test_the_queue_rules_hold_for_many_flags_and_troubled_heads() -> None:
    read_only = _system("read only", read_only=True)
    troubled = _system("troubled")
    role = _role("engineering", read_only, troubled)
    group, people = _group("everyone", 4)
    # p0's account on "troubled" was disabled; the disable failed and sits in exception.
    account = SystemAccount.objects.create(system=troubled, name="p0", person=people[0],
                                           state=AccountState.PRESENT)
    stuck = Operation.objects.create(
        system=troubled, account=account, account_name="p0", kind=Kind.UPDATE,
        attributes={"__ENABLE__": False}, state=State.EXCEPTION, attempts=5,
        next_attempt_at=account.updated_at)
    role.groups.add(group)
    enable = Operation.objects.get(system=troubled, account_name="p0", kind=Kind.UPDATE,
                                   attributes={"__ENABLE__": True})
    assert (enable.state, enable.blocked_behind) == (State.BLOCKED, stuck.pk)
    assert set(Operation.objects.filter(system=troubled, kind=Kind.CREATE)
               .values_list("state", flat=True)) == {State.CREATED}
    stopped = Operation.objects.filter(system=read_only)
    assert stopped.count() == 4
    assert {(op.state, op.reason) for op in stopped} == {(State.NOT_EXECUTED,
                                                          Reason.READ_ONLY)}
    events = Event.objects.filter(action="provisioning.not_executed")
    assert sorted(event.detail["account"] for event in events) == ["p0", "p1", "p2", "p3"]


@pytest.mark.django_db(transaction=True)
def test_an_account_created_by_another_process_at_the_same_moment_is_settled_per_person(
) -> None:
    """Another request creates p3's account row and commits only once this grant's bulk
    INSERT waits for it: the unique (system, name) constraint stops the INSERT, and the
    batch goes one person at a time, p3 keeping the row the other request made."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and pg_stat_activity")
    system = _system()
    role = _role("engineering", system)
    group, people = _group("everyone", 6)
    p3 = next(person for person in people if person.username == "p3")
    inserted, waited = threading.Event(), threading.Event()

    def other_request() -> None:
        try:
            with transaction.atomic():
                SystemAccount.objects.create(system=system, name="p3", person=p3)
                inserted.set()
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'")
                        if cursor.fetchone()[0]:
                            waited.set()
                            break
                    time.sleep(0.02)
        finally:
            connection.close()

    other = threading.Thread(target=other_request)
    other.start()
    assert inserted.wait(10)
    role.groups.add(group)
    other.join()
    assert waited.is_set()  # the grant's INSERT did run into the other one's row
    theirs = SystemAccount.objects.get(system=system, name="p3")
    assert theirs.person_id == p3.pk
    assert SystemAccount.objects.count() == 6
    assert sorted(Operation.objects.filter(kind=Kind.CREATE)
                  .values_list("account_name", flat=True)) == [f"p{i}" for i in range(6)]
    assert Operation.objects.get(account_name="p3").account_id == theirs.pk
