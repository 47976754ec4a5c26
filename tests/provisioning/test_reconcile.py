"""Preview and reconciliation against a real slapd, and ``keystead provision``."""

from __future__ import annotations

import ldap
import pytest
from click.testing import CliRunner

from keystead.cli import main as keystead_command
from keystead.directory.models import Event
from keystead.provisioning import reconcile, services
from keystead.provisioning.models import Kind, Operation, System, SystemAccount
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from sources.ldap.slapd import Slapd

from .helpers import ldap_entries

pytestmark = pytest.mark.django_db
CANARY = "Reconcile-Canary-Pass-6651"
PEOPLE = {"ann": {"cn": "Ann A", "sn": "A", "mail": "ann@example.test"},
          "bob": {"cn": "Bob B", "sn": "B", "mail": "bob@example.test"},
          "cy": {"cn": "Cy C", "sn": "C", "mail": "cy@example.test"}}


@pytest.fixture
def provisioned(ldap_system: System) -> System:
    for name, attributes in PEOPLE.items():
        services.queue_account_creation(ldap_system, name, attributes=attributes,
                                        password=Secret(CANARY))
    assert Worker("w-reconcile", batch=10).run(once=True) == 3
    return ldap_system


def _drift(server: Slapd, base: str) -> None:
    """By hand on the target: Bob's mail changed, Cy deleted, an entry Keystead never made."""
    admin = server.admin()
    try:
        admin.modify_s(f"uid=bob,{base}", [(ldap.MOD_REPLACE, "mail", [b"bob@elsewhere.test"])])
        admin.delete_s(f"uid=cy,{base}")
        admin.add_s(f"uid=stray,{base}", [("objectClass", [b"inetOrgPerson"]),
                                          ("uid", [b"stray"]), ("cn", [b"Stray"]),
                                          ("sn", [b"S"])])
    finally:
        admin.unbind_s()


def test_a_provisioned_system_reconciles_clean(provisioned: System) -> None:
    report = reconcile.reconcile(provisioned)
    assert [(f.name, f.action) for f in report.findings] == [
        ("ann", "same"), ("bob", "same"), ("cy", "same")]


def test_reconcile_finds_changes_missing_and_stray_accounts_and_apply_fixes_them(
        provisioned: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    _drift(prov_slapd, accounts_ou)
    report = reconcile.reconcile(provisioned)
    found = {f.name: f for f in report.findings}
    assert {name: f.action for name, f in found.items()} == {
        "ann": "same", "bob": "change", "cy": "create", "stray": "only on target"}
    assert [(d.attribute, d.target, d.wanted) for d in found["bob"].differences] == [
        ("mail", ["bob@elsewhere.test"], ["bob@example.test"])]
    assert Operation.objects.count() == 0  # reading queues nothing

    assert reconcile.apply(report, provisioned) == 2  # the stray one is only reported
    assert Event.objects.filter(action="provisioning.reconcile").exists()
    Worker("w-fix", batch=10).run(once=True)
    after = reconcile.reconcile(provisioned)
    assert {f.name: f.action for f in after.findings} == {
        "ann": "same", "bob": "same", "cy": "same", "stray": "only on target"}

    reconcile.apply(after, provisioned, delete_only_on_target=True)
    Worker("w-fix", batch=10).run(once=True)
    assert sorted(ldap_entries(prov_slapd, accounts_ou)) == sorted(
        f"uid={name},{accounts_ou}" for name in PEOPLE)


def test_fixes_for_accounts_keystead_changed_during_the_scan_are_left_out(
        provisioned: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    _drift(prov_slapd, accounts_ou)
    report = reconcile.reconcile(provisioned)
    # While the scan ran: Cy's account is to go after all, and the stray one became
    # Keystead's own.
    services.queue_operation(provisioned, "cy", Kind.DELETE,
                             account=SystemAccount.objects.get(system=provisioned, name="cy"))
    services.queue_account_creation(provisioned, "stray", attributes={"cn": "Stray", "sn": "S"})
    before = Operation.objects.count()

    assert reconcile.apply(report, provisioned, delete_only_on_target=True) == 1  # Bob's fix
    assert sorted(report.changed_meanwhile) == ["cy", "stray"]
    assert Operation.objects.count() == before + 1
    assert Event.objects.get(action="provisioning.reconcile").detail["changed_meanwhile"] == 2


def test_preview_lists_queued_work_without_sending_it(
        provisioned: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    services.queue_account_creation(provisioned, "dee", attributes={"cn": "Dee D", "sn": "D"},
                                    password=Secret(CANARY))
    services.queue_operation(provisioned, "ann", Kind.UPDATE, attributes={"cn": "Ann Z"})
    services.queue_operation(provisioned, "bob", Kind.DELETE)
    before = sorted(ldap_entries(prov_slapd, accounts_ou))

    report = reconcile.preview(provisioned)
    found = {f.name: f for f in report.findings}
    assert {name: f.action for name, f in found.items()} == {
        "ann": "change", "bob": "delete", "cy": "same", "dee": "create"}
    assert [(d.attribute, d.target, d.wanted) for d in found["ann"].differences] == [
        ("cn", ["Ann A"], ["Ann Z"])]
    assert found["dee"].password_pending
    assert sorted(ldap_entries(prov_slapd, accounts_ou)) == before  # nothing was sent


def test_the_command_prints_the_preview_and_never_the_password(provisioned: System) -> None:
    services.queue_account_creation(provisioned, "dee", attributes={"cn": "Dee D", "sn": "D"},
                                    password=Secret(CANARY))
    result = CliRunner().invoke(keystead_command, ["provision", "--system", provisioned.name,
                                                   "--preview"])
    assert result.exit_code == 0, result.output
    assert "dee" in result.output and "create" in result.output
    assert "would be set" in result.output and CANARY not in result.output
    assert "1 to create" in result.output


def test_the_command_reconciles_and_applies(provisioned: System, prov_slapd: Slapd,
                                            accounts_ou: str) -> None:
    _drift(prov_slapd, accounts_ou)
    result = CliRunner().invoke(keystead_command, ["provision", "--system", provisioned.name,
                                                   "--reconcile", "--apply"])
    assert result.exit_code == 0, result.output
    assert "only on the target" in result.output and "bob@elsewhere.test" in result.output
    assert "Queued 2 operations" in result.output
    assert Operation.objects.filter(system=provisioned).count() == 2


def test_the_command_names_the_mistake() -> None:
    unknown = CliRunner().invoke(keystead_command, ["provision", "--system", "nope",
                                                    "--preview"])
    assert unknown.exit_code == 2 and "no system named 'nope'" in unknown.output
    nothing = CliRunner().invoke(keystead_command, ["provision", "--system", "nope"])
    assert nothing.exit_code == 2 and "--preview or --reconcile" in nothing.output
    apply_alone = CliRunner().invoke(keystead_command, ["provision", "--system", "nope",
                                                        "--preview", "--apply"])
    assert apply_alone.exit_code == 2 and "--apply works with --reconcile" in apply_alone.output
