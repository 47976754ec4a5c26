"""Roles held through directory groups grant accounts, and lose them, like direct ones."""

from __future__ import annotations

import pytest

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Group, Role, User
from keystead.directory.rules import RuleViolation
from keystead.provisioning.models import (
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    RoleRemoval,
    RoleSystem,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.worker import Worker
from sources.ldap.slapd import Slapd

from .helpers import binds, ldap_entries
from .mapped import map_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def role(ldap_system: System) -> Role:
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system)
    role = Role.objects.create(name="engineering")
    RoleSystem.objects.create(role=role, system=ldap_system)
    return role


def _open() -> list[tuple[str, dict]]:
    return [(op.kind, op.attributes) for op in Operation.objects.order_by("id")]


def _run() -> None:
    Worker("w-groups").run(once=True)
    assert not Operation.objects.exclude(state=State.EXECUTED).exists()


def test_joining_a_group_that_holds_the_role_creates_an_account_that_binds(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    assert not Operation.objects.exists()  # nobody in the group yet
    staff.members.add(ada)
    (op,) = Operation.objects.all()
    assert op.kind == Kind.CREATE and op.account_name == "ada"
    password = op.password()
    _run()
    assert binds(prov_slapd, f"uid=ada,{accounts_ou}", password.reveal())
    assert SystemAccount.objects.get(person=ada).state == "present"


def test_a_group_gaining_the_role_gives_its_members_accounts(
        ldap_system: System, ada: User, role: Role) -> None:
    grace = User.objects.create_user("grace@example.test", "Grace", "Hopper", password=None,
                                     username="grace")
    staff = Group.objects.create(name="staff")
    staff.members.add(ada, grace)
    staff.roles.add(role)  # the reverse side of Role.groups
    assert sorted(Operation.objects.values_list("account_name", flat=True)) == ["ada", "grace"]
    assert set(Operation.objects.values_list("kind", flat=True)) == {Kind.CREATE}


def test_leaving_the_group_disables_and_rejoining_enables_the_account(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    ada.directory_groups.add(staff)  # the reverse side of Group.members
    password = Operation.objects.get().password()
    _run()
    dn = f"uid=ada,{accounts_ou}"

    staff.members.remove(ada)
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    _run()
    assert not binds(prov_slapd, dn, password.reveal())

    staff.members.remove(ada)  # nothing changed: nothing more is sent
    assert not Operation.objects.exists()

    staff.members.add(ada)
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": True})]
    _run()
    assert binds(prov_slapd, dn, password.reveal())


def test_the_group_losing_the_role_deletes_the_account_when_the_system_says_so(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    ldap_system.on_role_removal = RoleRemoval.DELETE
    ldap_system.save()
    staff = Group.objects.create(name="staff")
    staff.members.add(ada)
    role.groups.add(staff)
    _run()
    assert ldap_entries(prov_slapd, accounts_ou) == [f"uid=ada,{accounts_ou}"]
    role.groups.clear()
    assert _open() == [(Kind.DELETE, {})]
    _run()
    assert ldap_entries(prov_slapd, accounts_ou) == []
    assert SystemAccount.objects.get().state == "deleted"


def test_a_direct_role_keeps_the_account_when_the_group_path_goes(
        ldap_system: System, ada: User, role: Role) -> None:
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    staff.members.add(ada)
    role.users.add(ada)  # held twice: one account
    assert Operation.objects.count() == 1
    _run()
    staff.members.remove(ada)
    assert not Operation.objects.exists()  # still held directly
    role.users.remove(ada)
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]


def test_another_group_or_another_role_keeps_the_account(
        ldap_system: System, ada: User, role: Role) -> None:
    staff, ops = Group.objects.create(name="staff"), Group.objects.create(name="ops")
    other = Role.objects.create(name="operations")
    RoleSystem.objects.create(role=other, system=ldap_system)
    role.groups.add(staff, ops)
    other.groups.add(ops)
    staff.members.add(ada)
    ops.members.add(ada)
    assert Operation.objects.count() == 1
    _run()
    staff.members.remove(ada)  # still in ops, which holds both roles
    role.groups.remove(ops)  # ops still holds the other role
    assert not Operation.objects.exists()
    ada.directory_groups.clear()  # no path left
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]


def test_a_failing_script_refuses_joining_the_group_and_nothing_is_saved(
        ldap_system: System, ada: User, role: Role) -> None:
    MappedAttribute.objects.filter(system=ldap_system, name="__PASSWORD__").update(
        script='"plain text"')
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    with pytest.raises(RuleViolation) as refused:
        directory.change_group_members(staff, actor=OPERATOR, add=[ada.pk])
    assert "must return a secret" in refused.value.problems[0].message
    assert not staff.members.exists()
    assert not Operation.objects.exists() and not SystemAccount.objects.exists()


def test_deleting_the_group_or_the_role_takes_the_account_away(
        ldap_system: System, ada: User, role: Role) -> None:
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    staff.members.add(ada)
    _run()
    staff.delete()
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    _run()
    role.users.add(ada)
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": True})]
    _run()
    role.delete()
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]


def test_scripts_see_the_roles_held_through_groups(ldap_system: System, ada: User,
                                                   role: Role) -> None:
    """``user.roles`` is the same holding that grants the account: direct or by group."""
    MappedAttribute.objects.filter(system=ldap_system, name="description").delete()
    MappedAttribute.objects.create(system=ldap_system, name="description",
                                   script='user.roles.join(",")')
    staff = Group.objects.create(name="staff")
    role.groups.add(staff)
    direct = Role.objects.create(name="auditors")
    direct.users.add(ada)
    staff.members.add(ada)
    (op,) = Operation.objects.filter(kind=Kind.CREATE)
    assert op.attributes["description"] == "auditors,engineering"
