"""Two changes of one person's roles, groups or state at the same moment, on real
PostgreSQL connections: the second waits for the first (``roles.follow`` locks the
person's row) and decides on what it committed."""

from __future__ import annotations

import pytest

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Group, Role, User
from keystead.directory.rules import RuleViolation
from keystead.provisioning import queue, roles, services
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import (
    AccountState,
    ConnectorType,
    Kind,
    Operation,
    RoleSystem,
    System,
    SystemAccount,
)
from racing import save_while_another_is_pending

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def granting_role() -> tuple[System, Role]:
    system = System.objects.create(name="payroll", connector=ConnectorType.SQL)
    role = Role.objects.create(name="payroll users")
    RoleSystem.objects.create(role=role, system=system)
    return system, role


@pytest.fixture
def grace() -> User:
    return User.objects.create_user("grace@example.com", "Grace", "Hopper")


def test_removing_both_ways_to_a_role_at_once_still_takes_the_account_away(granting_role,
                                                                           grace):
    system, role = granting_role
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    role.users.add(grace)
    staff.members.add(grace)
    queue.finish("w", [operation.id for operation in queue.claim("w", 10)])  # created

    save_while_another_is_pending(
        lambda: Group.objects.get(pk=staff.pk).members.remove(User.objects.get(pk=grace.pk)),
        lambda: Role.objects.get(pk=role.pk).users.remove(User.objects.get(pk=grace.pk)))

    assert not roles.granted(system, grace)
    taken_away = Operation.objects.filter(kind=Kind.UPDATE, attributes__contains={ENABLE: False})
    assert taken_away.count() == 1


def test_a_disable_while_a_role_is_given_disables_the_account_it_gave(granting_role, grace):
    system, role = granting_role

    save_while_another_is_pending(
        lambda: Role.objects.get(pk=role.pk).users.add(User.objects.get(pk=grace.pk)),
        lambda: directory.set_active(User.objects.get(pk=grace.pk), False, actor=OPERATOR))

    assert not User.objects.get(pk=grace.pk).is_active
    operations = list(Operation.objects.filter(account__system=system).order_by("id"))
    assert [operation.kind for operation in operations] == [Kind.CREATE, Kind.UPDATE]
    assert operations[-1].attributes == {ENABLE: False}


def test_a_deleted_accounts_name_given_to_two_people_at_once_goes_to_the_first(grace):
    system = System.objects.create(name="wiki", connector=ConnectorType.SQL)
    gone = SystemAccount.objects.create(system=system, name="gh", state=AccountState.DELETED)
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")

    refused = save_while_another_is_pending(
        lambda: services.queue_account_creation(system, "gh", person=grace),
        lambda: services.queue_account_creation(system, "gh", person=ada))

    assert isinstance(refused, RuleViolation) and "belongs to someone else" in str(refused)
    assert SystemAccount.objects.get(pk=gone.pk).person_id == grace.pk
    assert Operation.objects.filter(account=gone, kind=Kind.CREATE).count() == 1
