"""Roles grant accounts: a generated password that binds, removal deletes or disables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Role, User
from keystead.directory.rules import RuleViolation
from keystead.housekeeping import kinds
from keystead.provisioning import queue, roles
from keystead.provisioning.connectors.base import ENABLE
from keystead.provisioning.models import (
    ArchivedOperation,
    ConnectorType,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    RoleRemoval,
    RoleSystem,
    System,
    SystemAccount,
)
from keystead.provisioning.worker import Worker
from sources.ldap.slapd import Slapd

from .helpers import binds, ldap_entries, ldap_lock
from .mapped import map_person

pytestmark = pytest.mark.django_db


def test_assigning_a_role_creates_the_account_with_a_generated_password_that_binds(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    ldap_system.generating_policy = PasswordPolicy.objects.create(
        name="ldap generated", min_length=16, generated_length=30, min_digits=2,
        min_symbols=2)
    ldap_system.save()
    map_person(ldap_system, extra_password="userPassword")
    directory.save_role(role, actor=OPERATOR, user_ids=[ada.pk], door="api")
    (op,) = Operation.objects.all()
    assert op.kind == Kind.CREATE and op.account_name == "ada"
    assert op.attributes == {"cn": "Ada Lovelace", "sn": "Lovelace", "mail": "ada@example.test",
                             "description": "Keystead: ada"}
    generated = op.password()
    assert generated is not None and len(generated) == 30
    assert sum(c.isdigit() for c in generated.reveal()) >= 2
    assert list(op.secret_attributes()) == ["userPassword"]  # created with everything
    assert Worker("w1").run(once=True) == 1
    assert binds(prov_slapd, f"uid=ada,{accounts_ou}", generated.reveal())
    assert SystemAccount.objects.get(person=ada).state == "present"


def test_without_a_generating_policy_the_default_one_is_used_else_scripts_get_null(
        ldap_system: System, ada: User, role: Role) -> None:
    map_person(ldap_system, password_script="value == null ? null : ssha(value)")
    role.users.add(ada)
    assert Operation.objects.get().password() is None  # no policy at all: null
    Operation.objects.all().delete()
    SystemAccount.objects.all().delete()
    role.users.remove(ada)
    Operation.objects.all().delete()
    PasswordPolicy.objects.create(name="default", default_for_generation=True,
                                  generated_length=20)
    role.users.add(ada)
    password = Operation.objects.get(kind=Kind.CREATE).password()
    assert password is not None and password.reveal().startswith("{SSHA}")


def test_a_failing_script_refuses_the_assignment_and_queues_nothing(
        ldap_system: System, ada: User, role: Role) -> None:
    map_person(ldap_system, password_script='"plain text"')
    with pytest.raises(RuleViolation) as refused:
        directory.save_role(role, actor=OPERATOR, user_ids=[ada.pk], door="api")
    assert "must return a secret" in refused.value.problems[0].message
    assert not Operation.objects.exists() and not SystemAccount.objects.exists()
    assert not role.users.exists()


def test_removing_the_role_deletes_or_disables_the_account(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system)
    role.users.add(ada)
    password = Operation.objects.get().password()
    Worker("w1").run(once=True)
    dn = f"uid=ada,{accounts_ou}"
    assert binds(prov_slapd, dn, password.reveal())

    role.users.remove(ada)  # the default: disable
    (op,) = Operation.objects.all()
    assert (op.kind, op.attributes) == (Kind.UPDATE, {"__ENABLE__": False})
    Worker("w1").run(once=True)
    assert not binds(prov_slapd, dn, password.reveal())  # ppolicy's permanent lock

    role.users.add(ada)  # given back: enabled again, same account
    (op,) = Operation.objects.all()
    assert (op.kind, op.attributes) == (Kind.UPDATE, {"__ENABLE__": True})
    Worker("w1").run(once=True)
    assert binds(prov_slapd, dn, password.reveal())

    ldap_system.on_role_removal = RoleRemoval.DELETE
    ldap_system.save()
    role.users.remove(ada)
    assert Operation.objects.get().kind == Kind.DELETE
    Worker("w1").run(once=True)
    assert ldap_entries(prov_slapd, accounts_ou) == []
    assert SystemAccount.objects.get().state == "deleted"


def test_a_role_given_back_after_the_archive_forgot_the_disable_enables_the_account(
        monkeypatch: pytest.MonkeyPatch, ldap_system: System, prov_slapd: Slapd,
        accounts_ou: str, ada: User, role: Role) -> None:
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", "30")
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system)
    role.users.add(ada)
    password = Operation.objects.get().password().reveal()
    assert Worker("w1").run(once=True) == 1
    role.users.remove(ada)  # the default: disable
    assert Worker("w1").run(once=True) == 1
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_lock(prov_slapd, dn) == [b"000001010000Z"]
    kinds.archived_operations(timezone.now() + timedelta(days=31))  # housekeeping, later
    assert not ArchivedOperation.objects.exists()
    role.users.add(ada)
    (op,) = Operation.objects.all()
    assert (op.kind, op.attributes) == (Kind.UPDATE, {"__ENABLE__": True})
    assert Worker("w1").run(once=True) == 1
    assert ldap_lock(prov_slapd, dn) == []
    assert binds(prov_slapd, dn, password)


def _executed(system: System, account: SystemAccount, kind: str,
              attributes: dict | None = None) -> None:
    """Queue an operation on ``account`` and record it executed, as a worker does once the
    target took it (no target here: only Keystead's bookkeeping)."""
    operation = queue.enqueue(system, account.name, kind, attributes=attributes,
                              account=account)
    assert [claimed.id for claimed in queue.claim("w", 10)] == [operation.id]
    assert queue.finish("w", [operation.id]) == [operation.id]


@pytest.mark.smoke  # also on SQLite
def test_last_sent_reads_the_open_operations_then_the_accounts_never_the_archive() -> None:
    system = System.objects.create(name="target", connector=ConnectorType.SQL)
    accounts = {name: SystemAccount.objects.create(system=system, name=name)
                for name in ("on", "off", "born off", "gone", "waiting", "never sent")}
    for name in ("on", "off", "gone", "waiting"):
        _executed(system, accounts[name], Kind.CREATE)
    _executed(system, accounts["born off"], Kind.CREATE, {ENABLE: False})
    _executed(system, accounts["off"], Kind.UPDATE, {ENABLE: False})
    _executed(system, accounts["off"], Kind.UPDATE, {"mail": "off@example.test"})
    _executed(system, accounts["gone"], Kind.DELETE)
    _executed(system, accounts["waiting"], Kind.UPDATE, {ENABLE: False})
    queue.enqueue(system, "waiting", Kind.UPDATE, attributes={ENABLE: True},
                  account=accounts["waiting"])  # open: newer than anything executed
    queue.cancel(queue.enqueue(system, "never sent", Kind.CREATE,
                               account=accounts["never sent"]).id)
    ArchivedOperation.objects.all().delete()  # housekeeping pruned it all
    said = roles.last_sent_many(SystemAccount.objects.all())
    assert {name: said[account.pk] for name, account in accounts.items()} == {
        "on": roles.ENABLED, "off": roles.DISABLED, "born off": roles.DISABLED,
        "gone": roles.DELETED, "waiting": roles.ENABLED, "never sent": roles.ENABLED}
    assert roles.last_sent(accounts["off"]) == roles.DISABLED


def test_another_role_granting_the_same_system_keeps_the_account(
        ldap_system: System, ada: User, role: Role) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="cn", source="full_name")
    other = Role.objects.create(name="operations")
    RoleSystem.objects.create(role=other, system=ldap_system)
    role.users.add(ada)
    other.users.add(ada)
    assert Operation.objects.count() == 1  # one account
    role.users.remove(ada)
    assert Operation.objects.count() == 1  # still held through the other role


def test_the_console_says_why_a_role_cannot_be_granted(
        ldap_system: System, ada: User, role: Role, admin_user) -> None:
    from django.test import Client

    map_person(ldap_system, password_script='"plain text"')
    console = Client()
    console.force_login(admin_user)
    response = console.post(f"/admin/directory/role/{role.pk}/change/", {
        "name": role.name, "description": "", "users": [ada.pk]}, follow=True)
    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    assert "must return a secret" in response.content.decode()
    assert not role.users.exists() and not Operation.objects.exists()
