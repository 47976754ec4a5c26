"""A password change through set_password reaches every connected system, or nothing does."""

from __future__ import annotations

import logging
import uuid

import pytest

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from keystead.directory.rules import RuleViolation
from keystead.provisioning import services
from keystead.provisioning.models import (
    ConnectorType,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    System,
    SystemAccount,
)
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from sources.ldap.slapd import Slapd

from .helpers import binds, dump_database
from .mapped import map_person

pytestmark = pytest.mark.django_db
FIRST = "first-Quiet-harbour-lantern-41"
NEW = "second-Amber-orchard-violin-82"


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada@example.test", "Ada", "Lovelace", password=FIRST,
                                    username="ada")


def _account(system: System, person: User) -> str:
    """The person's account on ``system``, created through the queue with FIRST."""
    services.queue_account_creation(system, person.username, person=person,
                                    attributes={"cn": person.get_full_name(),
                                                "sn": person.family_name},
                                    password=Secret(FIRST))
    return f"uid={person.username},{system.settings['base_dn']}"


def _second_system(prov_slapd: Slapd, accounts_ou: str) -> System:
    """A second LDAP system on another branch of the same server."""
    conn = prov_slapd.admin()
    branch = f"ou=second-{uuid.uuid4().hex[:8]},{prov_slapd.base_dn}"
    conn.add_s(branch, [("objectClass", [b"organizationalUnit"]),
                        ("ou", [branch.split(",")[0][3:].encode()])])
    conn.unbind_s()
    system = System(name=f"second-{uuid.uuid4().hex[:6]}", connector=ConnectorType.LDAP,
                    settings={"url": prov_slapd.ldap_url, "bind_dn": prov_slapd.root_dn,
                              "base_dn": branch})
    system.set_secrets({"bind_password": Secret(prov_slapd.root_password)})
    system.save()
    return system


def test_a_password_change_reaches_every_system_and_binds(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User) -> None:
    other = _second_system(prov_slapd, accounts_ou)
    map_person(ldap_system)
    dns = [_account(ldap_system, ada), _account(other, ada)]  # ``other`` has no mapping
    Worker("w1").run(once=True)
    directory.set_password(ada, Secret(NEW), actor=OPERATOR, door="admin")
    ops = list(Operation.objects.order_by("id"))
    assert [(op.system_id, op.kind, op.attributes) for op in ops] == [
        (ldap_system.id, Kind.PASSWORD, {}), (other.id, Kind.PASSWORD, {})]
    assert Worker("w1").run(once=True) == 2
    for dn in dns:
        assert binds(prov_slapd, dn, NEW) and not binds(prov_slapd, dn, FIRST)
    ada.refresh_from_db()
    assert ada.check_password(NEW)


@pytest.mark.parametrize("together", [False, True])
def test_other_password_attributes_follow_or_go_together(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, ada: User,
        together: bool) -> None:
    map_person(ldap_system, extra_password="userPassword")
    ldap_system.send_password_attributes_together = together
    ldap_system.save()
    dn = _account(ldap_system, ada)
    Worker("w1").run(once=True)
    directory.set_password(ada, Secret(NEW), actor=OPERATOR, door="portal",
                           action="user.password.change")
    ops = list(Operation.objects.order_by("id"))
    if together:
        assert len(ops) == 1
        assert ops[0].password() == Secret(NEW)
        assert list(ops[0].secret_attributes()) == ["userPassword"]
    else:
        assert len(ops) == 2
        assert ops[0].password() == Secret(NEW) and ops[0].secret_attributes() == {}
        assert ops[1].password() is None and list(ops[1].secret_attributes()) == ["userPassword"]
    assert all(op.attributes == {} for op in ops)
    assert Worker("w1").run(once=True) == len(ops)
    assert binds(prov_slapd, dn, NEW)  # the {SSHA} userPassword of the new password


@pytest.mark.parametrize(("script", "words"), [
    ('"not-a-secret"', "must return a secret"),
    ("1 / 0", "divide by zero"),
])
def test_a_failing_password_script_refuses_the_change_and_queues_nothing(
        ldap_system: System, ada: User, caplog, script: str, words: str) -> None:
    map_person(ldap_system, password_script=script)
    SystemAccount.objects.create(system=ldap_system, person=ada, name="ada")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RuleViolation) as refused:
        directory.set_password(ada, Secret(NEW), actor=OPERATOR)
    message = str(refused.value.problems[0].message)
    assert words in message and "__PASSWORD__" in message and ldap_system.name in message
    assert NEW not in message and NEW not in caplog.text
    assert not Operation.objects.exists()
    ada.refresh_from_db()
    assert ada.check_password(FIRST)


def test_a_password_failing_a_systems_policy_is_refused_before_anything_is_saved(
        ldap_system: System, ada: User) -> None:
    ldap_system.validation_policy = PasswordPolicy.objects.create(
        name="legacy app", min_length=8, max_length=40, min_digits=3)
    ldap_system.save()
    SystemAccount.objects.create(system=ldap_system, person=ada, name="ada")
    with pytest.raises(RuleViolation) as refused:
        directory.set_password(ada, Secret(NEW), actor=OPERATOR)
    messages = " ".join(p.message for p in refused.value.problems)
    assert f"For the account on {ldap_system.name}" in messages
    assert "at least 3 of: number" in messages
    assert not Operation.objects.exists()
    ada.refresh_from_db()
    assert ada.check_password(FIRST)
    assert not ada.password_history.exists()
    # A password the system accepts goes through.
    directory.set_password(ada, Secret("Amber-orchard-violin-829"), actor=OPERATOR)
    assert Operation.objects.count() == 1


def test_a_system_whose_mapping_has_no_password_attribute_gets_no_password(
        ldap_system: System, ada: User) -> None:
    MappedAttribute.objects.create(system=ldap_system, name="cn", source="full_name")
    SystemAccount.objects.create(system=ldap_system, person=ada, name="ada")
    directory.set_password(ada, Secret(NEW), actor=OPERATOR)
    assert not Operation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_canary_given_to_scripts_is_nowhere_in_clear(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, caplog) -> None:
    """The password passes through two scripts and a refused third: it reaches no log,
    table, audit event or error, whether the script succeeds or fails."""
    canary = f"Canary-script-{uuid.uuid4().hex}"
    person = User.objects.create_user("grace@example.test", "Grace", "Hopper", password=FIRST,
                                      username="grace")
    map_person(ldap_system, password_script="value", extra_password="userPassword")
    dn = _account(ldap_system, person)
    caplog.set_level(logging.DEBUG)
    Worker("w1").run(once=True)
    directory.set_password(person, Secret(canary), actor=OPERATOR)
    assert canary not in dump_database()
    Worker("w1").run(once=True)
    assert binds(prov_slapd, dn, canary)
    bad = MappedAttribute.objects.get(system=ldap_system, name="__PASSWORD__")
    bad.script = 'value + "-suffix"'  # not a secret: refused
    bad.save()
    with pytest.raises(RuleViolation) as refused:
        directory.set_password(person, Secret(canary + "x"), actor=OPERATOR)
    assert canary not in str(refused.value.problems)
    dump = dump_database()
    assert canary not in dump and "provisioning_archivedoperation" in dump
    assert canary not in caplog.text
