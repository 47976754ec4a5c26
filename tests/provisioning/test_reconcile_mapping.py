"""Reconciliation against what the mapping says now, and each system's last reconciliation
on its console page (real slapd, Django's test client as a superuser)."""

from __future__ import annotations

import ldap
import pytest
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse

from keystead.cli import main as keystead_command
from keystead.directory.models import Role, User
from keystead.provisioning import reconcile
from keystead.provisioning.models import (
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    RoleSystem,
    System,
)
from keystead.provisioning.worker import Worker
from sources.ldap.slapd import Slapd

from .helpers import ldap_entry
from .mapped import map_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapped(ldap_system: System, ada: User) -> System:
    """Ada's account made through a role, with a second password attribute."""
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system, extra_password="userPassword")
    role = Role.objects.create(name="engineering")
    RoleSystem.objects.create(role=role, system=ldap_system)
    role.users.add(ada)
    assert Worker("w-map").run(once=True) == 1
    return ldap_system


def _rename(person: User) -> None:
    """A directory change that is never sent: only the mapping knows about it."""
    User.objects.filter(pk=person.pk).update(family_name="Byron")


def test_a_directory_change_never_sent_shows_as_a_difference_and_apply_fixes_it(
        mapped: System, ada: User, prov_slapd: Slapd, accounts_ou: str) -> None:
    assert [(f.name, f.action) for f in reconcile.reconcile(mapped).findings] == [
        ("ada", "same")]
    _rename(ada)
    report = reconcile.reconcile(mapped)
    (finding,) = report.findings
    assert finding.action == "change"
    assert [(d.attribute, d.target, d.wanted) for d in finding.differences] == [
        ("cn", ["Ada Lovelace"], ["Ada Byron"]), ("sn", ["Lovelace"], ["Byron"])]
    assert not Operation.objects.exists()  # reading queues nothing

    assert reconcile.apply(report, mapped) == 1
    (op,) = Operation.objects.all()
    assert (op.kind, op.attributes) == (Kind.UPDATE, {"cn": "Ada Byron", "sn": "Byron"})
    assert not op.has_password  # a fix never carries a password
    Worker("w-map").run(once=True)
    entry = ldap_entry(prov_slapd, f"uid=ada,{accounts_ou}")
    assert entry["sn"] == [b"Byron"] and entry["cn"] == [b"Ada Byron"]
    assert [f.action for f in reconcile.reconcile(mapped).findings] == ["same"]


def test_password_attributes_are_never_compared(
        mapped: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    admin = prov_slapd.admin()
    try:
        admin.modify_s(f"uid=ada,{accounts_ou}",
                       [(ldap.MOD_REPLACE, "userPassword", [b"changed-by-hand"])])
    finally:
        admin.unbind_s()
    (finding,) = reconcile.reconcile(mapped).findings
    assert finding.action == "same" and finding.differences == []


def test_a_mapping_change_shows_as_a_difference(mapped: System) -> None:
    MappedAttribute.objects.filter(system=mapped, name="description").update(
        script='"Managed by Keystead: " + user.username')
    (finding,) = reconcile.reconcile(mapped).findings
    assert [(d.attribute, d.wanted) for d in finding.differences] == [
        ("description", ["Managed by Keystead: ada"])]


def test_the_command_reconciles_records_and_the_console_shows_it(
        mapped: System, ada: User, admin_user: User) -> None:
    console = Client()
    console.force_login(admin_user)
    page = reverse("admin:provisioning_system_change", args=[mapped.pk])
    before = console.get(page)
    assert before.status_code == 200
    assert "Never reconciled" in before.content.decode()

    _rename(ada)
    result = CliRunner().invoke(keystead_command, ["provision", "--system", mapped.name,
                                                   "--reconcile", "--apply"])
    assert result.exit_code == 0, result.output
    assert "Byron" in result.output and "Queued 1 operation" in result.output
    mapped.refresh_from_db()
    assert mapped.last_reconciled_at is not None
    assert mapped.last_reconciliation["counts"]["change"] == 1
    assert mapped.last_reconciliation["queued"] == 1
    assert mapped.last_reconciliation["accounts"] == [
        {"account": "ada", "action": "change", "attributes": ["cn", "sn"]}]

    html = console.get(page).content.decode()
    assert "Never reconciled" not in html
    assert "0 to create, 1 to change" in html and "1 fix(es) queued" in html
    assert "ada: change (cn, sn)" in html
    assert "Byron" not in html  # attribute names only, never values
    listing = console.get(reverse("admin:provisioning_system_changelist")).content.decode()
    assert "Last reconciled at" in listing


def test_a_failing_script_stops_the_command_with_a_clear_message(mapped: System) -> None:
    MappedAttribute.objects.filter(system=mapped, name="description").update(
        script="user.username + 1")
    result = CliRunner().invoke(keystead_command, ["provision", "--system", mapped.name,
                                                   "--reconcile"])
    assert result.exit_code == 1
    assert "'description'" in result.output and "Fix the mapping" in result.output
    assert "Traceback" not in result.output


def test_after_a_rename_reconciliation_finds_the_account_under_its_new_name_only(
        mapped: System, ada: User) -> None:
    from keystead.directory import services as directory
    from keystead.directory.authorization import OPERATOR

    directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    assert Worker("w-map").run(once=True) == 1
    assert [(f.name, f.action) for f in reconcile.reconcile(mapped).findings] == [
        ("ada.king", "same")]
    assert [(name, sorted(item.attributes)) for name, item in
            ((item.name, item) for item in reconcile.last_sent_accounts(mapped))] == [
        ("ada.king", ["cn", "description", "mail", "sn"])]
