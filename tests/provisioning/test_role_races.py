"""Two changes of one person's roles, groups or state at the same moment, on real
PostgreSQL connections: the second waits for the first (``roles.follow`` locks the
person's row) and decides on what it committed."""

from __future__ import annotations

import pytest

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Group, Role, User
from keystead.provisioning import queue, roles
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import ConnectorType, Kind, Operation, RoleSystem, System
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
