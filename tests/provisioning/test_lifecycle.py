"""A person's life reaches their accounts on slapd: deleted, disabled, enabled, changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, Role, User
from keystead.directory.rules import RuleViolation
from keystead.housekeeping import kinds
from keystead.provisioning.models import (
    ArchivedOperation,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    Reason,
    RoleRemoval,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.services import queue_operation, queue_password_change, retry
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from sources.ldap.slapd import Slapd

from .helpers import binds, ldap_entries, ldap_entry, ldap_lock
from .mapped import map_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def provisioned(ldap_system: System, ada: User, role: Role) -> str:
    """Ada holds the role; her account exists on slapd. Returns its generated password."""
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system)
    role.users.add(ada)
    password = Operation.objects.get().password().reveal()
    assert Worker("w1").run(once=True) == 1
    return password


def _open() -> list[tuple[str, dict]]:
    return [(op.kind, op.attributes) for op in Operation.objects.order_by("id")]


# --- deletion ---------------------------------------------------------------------------


def test_deleting_a_person_deletes_their_account_on_the_target(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    account = SystemAccount.objects.get(person=ada)
    assert ldap_entries(prov_slapd, accounts_ou) == [f"uid=ada,{accounts_ou}"]
    directory.delete_user(ada, actor=OPERATOR, door="api")
    (op,) = Operation.objects.all()
    assert (op.kind, op.account_name, op.account_id) == (Kind.DELETE, "ada", account.pk)
    assert Worker("w1").run(once=True) == 1
    assert ldap_entries(prov_slapd, accounts_ou) == []
    account.refresh_from_db()  # the row stays, with its history, without a person
    assert (account.state, account.person_id) == ("deleted", None)
    assert ArchivedOperation.objects.filter(account_name="ada", kind=Kind.DELETE,
                                            state=State.EXECUTED).exists()


def test_an_account_already_being_deleted_gets_no_second_delete(
        ldap_system: System, ada: User, role: Role, provisioned: str) -> None:
    ldap_system.on_role_removal = RoleRemoval.DELETE
    ldap_system.save()
    role.users.remove(ada)
    assert _open() == [(Kind.DELETE, {})]
    ada.delete()
    assert _open() == [(Kind.DELETE, {})]


def test_bulk_deletion_queues_a_delete_for_each_person(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User, role: Role,
        provisioned: str) -> None:
    grace = User.objects.create_user("grace@example.test", "Grace", "Hopper", password=None,
                                     username="grace")
    role.users.add(grace)
    Worker("w1").run(once=True)
    assert len(ldap_entries(prov_slapd, accounts_ou)) == 2
    User.objects.filter(pk__in=[ada.pk, grace.pk]).delete()  # the console's bulk delete too
    assert sorted((op.kind, op.account_name) for op in Operation.objects.all()) == [
        (Kind.DELETE, "ada"), (Kind.DELETE, "grace")]
    assert Worker("w1").run(once=True) == 2
    assert ldap_entries(prov_slapd, accounts_ou) == []


def test_a_system_blocking_deletes_shows_the_delete_as_not_executed(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    ldap_system.block_delete = True
    ldap_system.save()
    directory.delete_user(ada, actor=OPERATOR, door="api")
    (op,) = Operation.objects.all()
    assert (op.kind, op.state, op.reason) == (Kind.DELETE, State.NOT_EXECUTED,
                                              Reason.BLOCKED_KIND)
    assert Event.objects.filter(action="provisioning.not_executed").exists()
    Worker("w1").run(once=True)
    assert ldap_entries(prov_slapd, accounts_ou) == [f"uid=ada,{accounts_ou}"]


def test_a_refused_deletion_queues_nothing(ldap_system: System, ada: User,
                                           provisioned: str) -> None:
    from keystead.directory.authorization import Actor, NotAllowed

    nobody = Actor(label="nobody", permissions=frozenset())
    with pytest.raises(NotAllowed):
        directory.delete_user(ada, actor=nobody, door="api")
    assert not Operation.objects.exists() and User.objects.filter(pk=ada.pk).exists()


# --- disable and enable -----------------------------------------------------------------


def test_disabling_a_person_disables_the_account_and_enabling_enables_it(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    dn = f"uid=ada,{accounts_ou}"
    assert binds(prov_slapd, dn, provisioned)
    assert directory.set_active(ada, False, actor=OPERATOR, door="cli")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    Worker("w1").run(once=True)
    assert not binds(prov_slapd, dn, provisioned)  # ppolicy's permanent lock

    directory.update_user(ada, {"is_active": True}, actor=OPERATOR, door="api")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": True})]
    Worker("w1").run(once=True)
    assert binds(prov_slapd, dn, provisioned)

    directory.update_user(ada, {"is_active": False}, actor=OPERATOR, door="api")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    directory.update_user(ada, {"given_name": "Ada"}, actor=OPERATOR, door="api")
    assert len(_open()) == 1  # nothing changed: nothing queued


def test_enabling_a_person_leaves_disabled_an_account_no_role_grants(
        ldap_system: System, ada: User, role: Role, provisioned: str) -> None:
    role.users.remove(ada)  # on role removal: disable
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    directory.set_active(ada, False, actor=OPERATOR, door="cli")
    assert len(_open()) == 1  # already disabled
    directory.set_active(ada, True, actor=OPERATOR, door="cli")
    assert len(_open()) == 1  # no role grants it: stays disabled


def test_a_role_granted_to_a_disabled_person_gives_a_disabled_account(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        role: Role) -> None:
    PasswordPolicy.objects.create(name="default", default_for_generation=True)
    map_person(ldap_system)
    directory.set_active(ada, False, actor=OPERATOR, door="cli")
    role.users.add(ada)
    (op,) = Operation.objects.all()
    assert op.kind == Kind.CREATE and op.attributes["__ENABLE__"] is False
    password = op.password().reveal()
    Worker("w1").run(once=True)
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_entries(prov_slapd, accounts_ou) == [dn]
    assert not binds(prov_slapd, dn, password)
    directory.set_active(ada, True, actor=OPERATOR, door="cli")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": True})]
    Worker("w1").run(once=True)
    assert binds(prov_slapd, dn, password)


def test_a_person_back_from_a_leave_longer_than_the_archive_gets_the_account_back(
        monkeypatch: pytest.MonkeyPatch, ldap_system: System, prov_slapd: Slapd,
        accounts_ou: str, ada: User, provisioned: str) -> None:
    """Disabled, then the archive pruned of the disable: the account's state still says
    it was disabled, so enabling the person enables the account on slapd."""
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", "30")
    dn = f"uid=ada,{accounts_ou}"
    directory.set_active(ada, False, actor=OPERATOR, door="cli")
    assert Worker("w1").run(once=True) == 1
    assert ldap_lock(prov_slapd, dn) == [b"000001010000Z"]
    assert SystemAccount.objects.get(person=ada).state == "disabled"
    # Housekeeping a month later (a worker under a moved clock would also leave its
    # housekeeping claim, committed from its own thread, in the future for other tests).
    kinds.archived_operations(timezone.now() + timedelta(days=31))
    assert not ArchivedOperation.objects.exists()
    directory.set_active(ada, True, actor=OPERATOR, door="cli")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": True})]
    assert Worker("w1").run(once=True) == 1
    assert ldap_lock(prov_slapd, dn) == []
    assert binds(prov_slapd, dn, provisioned)
    assert SystemAccount.objects.get(person=ada).state == "present"


# --- details ----------------------------------------------------------------------------


def test_a_new_email_reaches_the_mapped_attribute_on_slapd(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_entry(prov_slapd, dn)["mail"] == [b"ada@example.test"]
    directory.update_user(ada, {"email": "ada.lovelace@example.test"}, actor=OPERATOR,
                          door="api")
    assert _open() == [(Kind.UPDATE, {"mail": "ada.lovelace@example.test"})]
    Worker("w1").run(once=True)
    entry = ldap_entry(prov_slapd, dn)
    assert entry["mail"] == [b"ada.lovelace@example.test"]
    assert entry["cn"] == [b"Ada Lovelace"]


def test_only_the_attributes_whose_values_changed_are_sent(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    ldap_system.account_name_from = "email"  # the user name does not name the account
    ldap_system.save()
    directory.update_user(ada, {"family_name": "King", "username": "ada.king"},
                          actor=OPERATOR, door="api")
    assert _open() == [(Kind.UPDATE, {"cn": "Ada King", "sn": "King",
                                      "description": "Keystead: ada.king"})]
    assert Operation.objects.get().account_name == "ada"  # the account keeps its name
    Worker("w1").run(once=True)
    entry = ldap_entry(prov_slapd, f"uid=ada,{accounts_ou}")
    assert (entry["cn"], entry["sn"]) == ([b"Ada King"], [b"King"])
    directory.update_user(ada, {"external_id": "E-1815"}, actor=OPERATOR, door="api")
    assert not Operation.objects.exists()  # no mapped source changed


def test_a_failing_script_refuses_the_change_and_queues_nothing(
        ldap_system: System, ada: User, provisioned: str) -> None:
    MappedAttribute.objects.filter(system=ldap_system, name="mail").update(
        script='value.endsWith("@example.test") ? value : user.nickname')
    with pytest.raises(RuleViolation) as refused:
        directory.update_user(ada, {"email": "ada@elsewhere.test"}, actor=OPERATOR,
                              door="api")
    problem = refused.value.problems[0]
    assert problem.field == "email" and "'mail'" in problem.message
    assert ldap_system.name in problem.message
    assert not Operation.objects.exists()
    ada.refresh_from_db()
    assert ada.email == "ada@example.test"


def test_the_api_refuses_a_change_a_script_cannot_send_with_a_400(
        ldap_system: System, ada: User, provisioned: str, api) -> None:
    MappedAttribute.objects.filter(system=ldap_system, name="mail").update(
        script='value.endsWith("@example.test") ? value : user.nickname')
    response = api.patch(f"/api/v1/users/{ada.pk}", {"email": "ada@elsewhere.test"})
    assert response.status_code == 400, response.content
    assert "'mail'" in response.content.decode()
    assert not Operation.objects.exists()
    ada.refresh_from_db()
    assert ada.email == "ada@example.test"


def _console_change(console, person: User, **changes: object):
    """Post the console's change form of ``person`` with their current values and
    ``changes``."""
    data = {"email": person.email, "username": person.username,
            "given_name": person.given_name, "family_name": person.family_name,
            "source": person.source, "source_id": person.source_id,
            "external_id": person.external_id, "_save": "Save"}
    if person.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return console.post(f"/admin/directory/user/{person.pk}/change/", data, follow=True)


def test_a_change_in_the_console_reaches_the_account(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str, admin_user: User) -> None:
    from django.test import Client

    console = Client()
    console.force_login(admin_user)
    response = _console_change(console, ada, email="ada.king@example.test")
    assert response.status_code == 200
    assert _open() == [(Kind.UPDATE, {"mail": "ada.king@example.test"})]
    Worker("w1").run(once=True)
    assert ldap_entry(prov_slapd, f"uid=ada,{accounts_ou}")["mail"] == [b"ada.king@example.test"]


def test_a_console_change_of_details_and_active_together_queues_one_update(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str, admin_user: User) -> None:
    from django.test import Client

    console = Client()
    console.force_login(admin_user)
    data = {"email": "ada.king@example.test", "given_name": "Ada", "family_name": "King",
            "username": ada.username, "source": ada.source, "source_id": ada.source_id,
            "external_id": ada.external_id, "_save": "Save"}  # is_active unticked
    assert console.post(f"/admin/directory/user/{ada.pk}/change/", data,
                        follow=True).status_code == 200
    assert _open() == [(Kind.UPDATE, {"cn": "Ada King", "sn": "King",
                                      "mail": "ada.king@example.test", "__ENABLE__": False})]
    Worker("w1").run(once=True)
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_entry(prov_slapd, dn)["sn"] == [b"King"]
    assert not binds(prov_slapd, dn, provisioned)
    response = _console_change(console, User.objects.get(pk=ada.pk), is_active="on",
                               given_name="Augusta")
    assert response.status_code == 200
    assert _open() == [(Kind.UPDATE, {"cn": "Augusta King", "__ENABLE__": True})]


def test_the_console_says_why_a_change_cannot_be_sent_and_saves_nothing(
        ldap_system: System, ada: User, provisioned: str, admin_user: User) -> None:
    from django.test import Client

    MappedAttribute.objects.filter(system=ldap_system, name="mail").update(
        script='value.endsWith("@example.test") ? value : user.nickname')
    console = Client()
    console.force_login(admin_user)
    response = _console_change(console, ada, email="ada@elsewhere.test")
    page = response.content.decode()
    assert "Nothing was saved" in page and "&#x27;mail&#x27;" in page
    ada.refresh_from_db()
    assert ada.email == "ada@example.test" and not Operation.objects.exists()


def test_a_failing_script_never_stops_a_disable(ldap_system: System, ada: User,
                                                provisioned: str) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="employeeType",
                                   script='user.is_active ? "staff" : user.nickname')
    assert directory.set_active(ada, False, actor=OPERATOR, door="cli")
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    ada.refresh_from_db()
    assert not ada.is_active


def test_scim_disable_and_delete_reach_the_account(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str, token_for) -> None:
    import json

    from django.test import Client

    scim = Client(headers={"Authorization": f"Bearer {token_for('scim')}"})
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "active", "value": False}]}
    response = scim.patch(f"/scim/v2/Users/{ada.pk}", json.dumps(patch),
                          content_type="application/scim+json")
    assert response.status_code == 200, response.content
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False})]
    assert scim.delete(f"/scim/v2/Users/{ada.pk}").status_code == 204
    assert _open() == [(Kind.UPDATE, {"__ENABLE__": False}), (Kind.DELETE, {})]
    assert Worker("w1").run(once=True) == 2
    assert ldap_entries(prov_slapd, accounts_ou) == []


# --- the account's name ------------------------------------------------------------------


def test_a_new_user_name_renames_the_account_on_slapd_and_its_operations_follow(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    account = SystemAccount.objects.get(person=ada)
    directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    assert _open() == [(Kind.UPDATE, {"description": "Keystead: ada.king",
                                      "__NAME__": "ada.king"})]
    queue_password_change(ada, Secret("renamed-Pass-3303"))  # queued behind the rename
    assert [op.account_name for op in Operation.objects.order_by("id")] == ["ada", "ada"]
    assert Worker("w1").run(once=True) == 2
    old_dn, new_dn = f"uid=ada,{accounts_ou}", f"uid=ada.king,{accounts_ou}"
    assert ldap_entries(prov_slapd, accounts_ou) == [new_dn]  # the old DN is gone
    entry = ldap_entry(prov_slapd, new_dn)
    assert entry["uid"] == [b"ada.king"] and entry["description"] == [b"Keystead: ada.king"]
    assert binds(prov_slapd, new_dn, "renamed-Pass-3303")
    assert not binds(prov_slapd, old_dn, "renamed-Pass-3303")
    account.refresh_from_db()
    assert (account.name, account.uid) == ("ada.king", new_dn)
    rename = ArchivedOperation.objects.get(attributes__has_key="__NAME__")
    assert (rename.account_name, rename.attributes["__RENAMED_FROM__"]) == ("ada.king", "ada")
    directory.update_user(ada, {"family_name": "King"}, actor=OPERATOR, door="api")
    assert Operation.objects.get().account_name == "ada.king"
    assert Worker("w1").run(once=True) == 1
    assert ldap_entry(prov_slapd, new_dn)["sn"] == [b"King"]


def test_a_renamed_disabled_account_stays_disabled_and_is_enabled_under_its_new_name(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    directory.set_active(ada, False, actor=OPERATOR, door="cli")
    Worker("w1").run(once=True)
    directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    (op,) = Operation.objects.all()
    assert op.attributes == {"description": "Keystead: ada.king", "__NAME__": "ada.king"}
    Worker("w1").run(once=True)
    new_dn = f"uid=ada.king,{accounts_ou}"
    assert not binds(prov_slapd, new_dn, provisioned)
    assert SystemAccount.objects.get(person=ada).state == "disabled"  # through the rename
    directory.set_active(ada, True, actor=OPERATOR, door="cli")
    assert [(op.account_name, op.attributes) for op in Operation.objects.all()] == [
        ("ada.king", {"__ENABLE__": True})]
    Worker("w1").run(once=True)
    assert binds(prov_slapd, new_dn, provisioned)


def test_the_old_name_of_a_waiting_rename_is_not_given_to_someone_else(
        ldap_system: System, ada: User, role: Role, provisioned: str) -> None:
    directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    other = User.objects.create_user("ada.b@example.test", "Ada", "Byron", password=None,
                                     username="ada")
    with pytest.raises(RuleViolation, match="rename waits in the queue"):
        directory.save_role(role, actor=OPERATOR, user_ids=[ada.pk, other.pk], door="api")
    assert [op.account_name for op in Operation.objects.all()] == ["ada"]
    Worker("w1").run(once=True)
    role.users.add(other)  # the name is free now
    (op,) = Operation.objects.all()
    assert (op.kind, op.account_name, op.account.person_id) == (Kind.CREATE, "ada", other.pk)


def test_a_new_name_another_account_holds_is_refused(
        ldap_system: System, ada: User, provisioned: str) -> None:
    SystemAccount.objects.create(system=ldap_system, name="ada.king", state="deleted")
    with pytest.raises(RuleViolation) as refused:
        directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    problem = refused.value.problems[0]
    assert problem.field == "username" and "'ada.king'" in problem.message
    ada.refresh_from_db()
    assert ada.username == "ada" and not Operation.objects.exists()


def test_a_rename_whose_new_name_was_taken_while_it_waited_fails_alone(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    """An unlinked account row takes the new name after the rename was queued: the
    target renames the entry, Keystead cannot follow. Only the rename fails, for good and
    audited, saying which row holds the name; the rest of the batch is recorded, nothing
    runs again by itself, and a retry once the row is gone records the rename."""
    account = SystemAccount.objects.get(person=ada)
    directory.update_user(ada, {"username": "ada.king"}, actor=OPERATOR, door="api")
    rename = Operation.objects.get()
    (behind,) = queue_password_change(ada, Secret("renamed-Pass-3303"))
    bob = queue_operation(ldap_system, "bob", Kind.CREATE,
                          attributes={"cn": "Bob", "sn": "Babbage"},
                          account=SystemAccount.objects.create(system=ldap_system, name="bob"))
    holder = SystemAccount.objects.create(system=ldap_system, name="ada.king")

    assert Worker("w1").run(once=True) == 1
    new_dn = f"uid=ada.king,{accounts_ou}"
    assert set(ldap_entries(prov_slapd, accounts_ou)) == {new_dn, f"uid=bob,{accounts_ou}"}
    assert list(ArchivedOperation.objects.filter(operation_id__gt=rename.id)
                .values_list("operation_id", "state")) == [(bob.id, State.EXECUTED)]
    failed = Operation.objects.get(id=rename.id)
    assert (failed.state, failed.account_name, failed.attributes) == (
        State.EXCEPTION, "ada", rename.attributes)
    assert (f"The system renamed account 'ada' to 'ada.king', but Keystead could not "
            f"follow: its account row {holder.pk} (linked to no person) on this system "
            f"already holds the name 'ada.king', so Keystead's account row {account.pk} "
            "keeps the name 'ada'. Remove that other row") in failed.last_error
    assert (Operation.objects.filter(id=behind.id).values_list("state", "blocked_behind",
                                                                "account_name").get()
            == (State.BLOCKED, rename.id, "ada"))
    account.refresh_from_db()
    assert account.name == "ada"
    event = Event.objects.get(action="provisioning.exception")
    assert (event.outcome, event.target_id, event.detail["operation"],
            event.detail["error"]) == ("failure", str(ldap_system.pk), rename.id,
                                       failed.last_error)

    assert Worker("w1").run(once=True) == 0  # not run again until the operator acts
    assert Operation.objects.get(id=rename.id).state == State.EXCEPTION
    assert Event.objects.filter(action="provisioning.exception").count() == 1

    holder.delete()
    retry(rename.id, actor=OPERATOR)
    assert Worker("w1").run(once=True) == 2  # the rename is recorded, then the password
    account.refresh_from_db()
    assert (account.name, account.uid) == ("ada.king", new_dn)
    assert binds(prov_slapd, new_dn, "renamed-Pass-3303")
    assert not Operation.objects.exists()


# --- group and role membership ---------------------------------------------------------


def test_joining_and_leaving_a_group_updates_the_attribute_mapped_from_groups(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="departmentNumber",
                                   source="groups")
    staff = Group.objects.create(name="staff")
    directory.change_group_members(staff, actor=OPERATOR, add=[ada.pk])
    assert _open() == [(Kind.UPDATE, {"departmentNumber": ["staff"]})]
    Worker("w1").run(once=True)
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_entry(prov_slapd, dn)["departmentNumber"] == [b"staff"]
    staff.members.remove(ada)
    assert _open() == [(Kind.UPDATE, {"departmentNumber": []})]
    Worker("w1").run(once=True)
    assert "departmentNumber" not in ldap_entry(prov_slapd, dn)
    MappedAttribute.objects.filter(name="departmentNumber").update(
        source="", script='user.groups.exists(g, g == "staff") ? "staff" : "other"')
    Group.objects.create(name="visitors").members.add(ada)  # the value stays "other"
    assert _open() == []


def test_a_role_reaching_a_group_updates_the_attribute_mapped_from_roles(
        ldap_system: System, ada: User, provisioned: str) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="title",
                                   script='user.roles.join(",")')
    staff = Group.objects.create(name="staff")
    staff.members.add(ada)
    assert _open() == []  # no mapped value changed
    auditors = Role.objects.create(name="auditors")
    auditors.groups.add(staff)
    assert _open() == [(Kind.UPDATE, {"title": "auditors,engineering"})]
    Operation.objects.all().delete()
    auditors.delete()  # the role's holders lose it with the role
    assert _open() == [(Kind.UPDATE, {"title": "engineering"})]


def test_a_membership_a_script_cannot_send_is_refused_and_not_saved(
        ldap_system: System, ada: User, provisioned: str) -> None:
    MappedAttribute.objects.create(
        system=ldap_system, name="departmentNumber",
        script='string(int(user.groups.join(",")))')  # fails at run time
    staff = Group.objects.create(name="staff")
    with pytest.raises(RuleViolation) as refused:
        directory.change_group_members(staff, actor=OPERATOR, add=[ada.pk])
    assert refused.value.problems[0].field == "groups"
    assert not staff.members.exists() and _open() == []


# --- group and role names ---------------------------------------------------------------


def test_renaming_a_group_sends_the_new_name_to_its_members_accounts(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        provisioned: str) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="departmentNumber",
                                   source="groups")
    staff = Group.objects.create(name="staff")
    staff.members.add(ada)
    Worker("w1").run(once=True)
    dn = f"uid=ada,{accounts_ou}"
    assert ldap_entry(prov_slapd, dn)["departmentNumber"] == [b"staff"]
    directory.save_group(staff, actor=OPERATOR, name="crew", door="api")
    assert _open() == [(Kind.UPDATE, {"departmentNumber": ["crew"]})]
    assert Worker("w1").run(once=True) == 1
    assert ldap_entry(prov_slapd, dn)["departmentNumber"] == [b"crew"]
    staff.description = "a description, the same name"
    staff.save()
    assert _open() == []


def test_renaming_a_role_sends_the_new_name_to_every_holder(
        ldap_system: System, ada: User, role: Role, provisioned: str) -> None:
    grace = User.objects.create_user("grace@example.test", "Grace", "Hopper", password=None,
                                     username="grace")
    staff = Group.objects.create(name="staff")
    staff.members.add(grace)
    role.groups.add(staff)  # Grace holds the role through a group
    Operation.objects.all().delete()
    MappedAttribute.objects.create(system=ldap_system, name="title",
                                   script='user.roles.join(",")')
    Role.objects.create(name="auditors").users.add(ada)
    Operation.objects.all().delete()
    role.name = "research"
    role.save()
    assert sorted((op.account_name, op.attributes) for op in Operation.objects.all()) == [
        ("ada", {"title": "auditors,research"}), ("grace", {"title": "research"})]


def test_a_rename_a_script_cannot_send_is_refused_and_not_saved(
        ldap_system: System, ada: User, role: Role, provisioned: str) -> None:
    MappedAttribute.objects.create(
        system=ldap_system, name="title",
        script='user.roles.exists(r, r == "engineering") ? "eng" : user.nickname')
    with pytest.raises(RuleViolation) as refused:
        directory.save_role(role, actor=OPERATOR, name="research", door="api")
    problem = refused.value.problems[0]
    assert problem.field == "name" and "'title'" in problem.message
    role.refresh_from_db()
    assert role.name == "engineering" and _open() == []
    role.name = "research"  # refused before the row is written, even without a transaction
    with pytest.raises(RuleViolation):
        role.save()
    assert Role.objects.get(pk=role.pk).name == "engineering"


def test_the_console_refuses_a_group_name_a_script_cannot_send(
        ldap_system: System, ada: User, provisioned: str, admin_user: User) -> None:
    from django.test import Client

    MappedAttribute.objects.create(
        system=ldap_system, name="departmentNumber",
        script='user.groups.exists(g, g.startsWith("staff")) ? "staff" : user.nickname')
    staff = Group.objects.create(name="staff")
    staff.members.add(ada)
    Operation.objects.all().delete()
    console = Client()
    console.force_login(admin_user)
    response = console.post(f"/admin/directory/group/{staff.pk}/change/",
                            {"name": "crew", "description": "", "external_id": "",
                             "members": [ada.pk], "_save": "Save"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved" in page and "departmentNumber" in page
    staff.refresh_from_db()
    assert staff.name == "staff" and _open() == []
