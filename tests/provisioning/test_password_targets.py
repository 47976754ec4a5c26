"""A person's own change may go to some of their accounts only, and may leave their
Keystead password as it is: chosen on the portal's change page, decided in the service,
and carried out through the queue to a real slapd."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from keystead.directory import services as directory
from keystead.directory.authorization import Actor
from keystead.directory.models import Event, User
from keystead.directory.rules import RuleViolation
from keystead.policy.models import LogonPolicy
from keystead.provisioning import queue, services
from keystead.provisioning.connectors.ad import CURRENT_PASSWORD
from keystead.provisioning.models import (
    AccountState,
    ConnectorType,
    Operation,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from sources.ldap.slapd import Slapd

from .helpers import binds
from .test_password_change import FIRST, NEW, _account, _second_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db) -> User:
    LogonPolicy.current()  # password only: no second factor asked
    return User.objects.create_user("ada@example.test", "Ada", "Lovelace", password=FIRST,
                                    username="ada")


@pytest.fixture
def two_accounts(ldap_system: System, prov_slapd: Slapd, accounts_ou: str,
                 ada: User) -> dict[str, tuple[System, str]]:
    """Ada's accounts on two systems, made through the queue with her password."""
    other = _second_system(prov_slapd, accounts_ou)
    made = {"first": (ldap_system, _account(ldap_system, ada)),
            "second": (other, _account(other, ada))}
    assert Worker("w1").run(once=True) == 2
    return made


def _signed_in() -> Client:
    client = Client()
    answer = client.post("/login/", {"username": "ada@example.test", "password": FIRST})
    assert answer.status_code == 302 and answer["Location"] == "/", answer
    return client


def _account_id(system: System) -> str:
    return str(SystemAccount.objects.get(system=system).pk)


def test_the_change_page_offers_every_account_ticked(two_accounts, ada: User) -> None:
    page = _signed_in().get("/password/change/").content.decode()
    assert "Where the new password goes" in page
    for system, _ in two_accounts.values():
        box = re.search(rf'<input[^>]*value="{_account_id(system)}"[^>]*>', page)
        assert box and "checked" in box.group(0)
        assert f"ada on {system.name}" in page
    assert re.search(r'<input[^>]*value="here"[^>]*checked', page)


def test_a_change_to_one_account_only_leaves_keystead_and_the_other(
        two_accounts, ada: User, prov_slapd: Slapd) -> None:
    (first, first_dn), (_, second_dn) = two_accounts["first"], two_accounts["second"]
    client = _signed_in()
    answer = client.post("/password/change/", {
        "current_password": FIRST, "new_password": NEW, "confirm_password": NEW,
        "targets": [_account_id(first)]})
    assert answer.status_code == 302, answer.content.decode()
    assert [op.system_id for op in Operation.objects.all()] == [first.pk]
    assert Worker("w1").run(once=True) == 1
    assert binds(prov_slapd, first_dn, NEW) and not binds(prov_slapd, first_dn, FIRST)
    assert binds(prov_slapd, second_dn, FIRST)
    ada.refresh_from_db()
    assert ada.check_password(FIRST) and not ada.check_password(NEW)
    assert client.get("/").status_code == 200  # this session goes on
    event = Event.objects.get(action="user.password.change")
    assert event.detail["keystead"] == "unchanged"
    assert event.detail["accounts"] == [f"ada on {first.name}"]
    assert NEW not in str(event.detail) and FIRST not in str(event.detail)
    assert not SystemAccount.objects.get(system=first).has_persons_password


def test_a_change_to_keystead_and_one_account_leaves_the_other(
        two_accounts, ada: User, prov_slapd: Slapd) -> None:
    (first, first_dn), (second, second_dn) = two_accounts["first"], two_accounts["second"]
    answer = _signed_in().post("/password/change/", {
        "current_password": FIRST, "new_password": NEW, "confirm_password": NEW,
        "targets": ["here", _account_id(second)]})
    assert answer.status_code == 302, answer.content.decode()
    Worker("w1").run(once=True)
    assert binds(prov_slapd, second_dn, NEW) and binds(prov_slapd, first_dn, FIRST)
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    held = dict(SystemAccount.objects.values_list("system_id", "has_persons_password"))
    assert held == {first.pk: False, second.pk: True}


@pytest.mark.parametrize("targets", [[], ["999999"]])
def test_nothing_chosen_or_an_account_not_offered_is_refused_on_the_field(
        two_accounts, ada: User, targets: list[str]) -> None:
    answer = _signed_in().post("/password/change/", {
        "current_password": FIRST, "new_password": NEW, "confirm_password": NEW,
        "targets": targets})
    assert answer.status_code == 200
    assert list(answer.context["form"].errors) == ["targets"]
    assert 'role="alert"' in answer.content.decode()
    assert not Operation.objects.exists()
    ada.refresh_from_db()
    assert ada.check_password(FIRST)


def test_the_service_refuses_another_persons_account(two_accounts, ada: User) -> None:
    grace = User.objects.create_user("grace@example.test", "Grace", "Hopper", password=FIRST,
                                     username="grace")
    (first, _) = two_accounts["first"]
    theirs = SystemAccount.objects.create(system=first, person=grace, name="grace",
                                          state=AccountState.PRESENT)
    with pytest.raises(RuleViolation) as refused:
        directory.set_password(ada, Secret(NEW), actor=Actor.themselves(ada), door="portal",
                               action="user.password.change", old_password=Secret(FIRST),
                               accounts=[theirs.pk], with_keystead=False)
    assert refused.value.problems[0].field == "accounts"
    assert not Operation.objects.exists()


def test_without_accounts_the_page_asks_nothing_more(ada: User) -> None:
    page = _signed_in().get("/password/change/").content.decode()
    assert "Where the new password goes" not in page


def test_an_ad_account_proves_the_old_password_only_while_it_holds_the_persons(
        ada: User) -> None:
    """An account that started with a generated password, or that a change left out,
    gets a reset; once a change sent it the person's password, the next one proves it."""
    ad = System.objects.create(name="corp-ad", connector=ConnectorType.AD,
                               settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                         "bind_dn": "cn=x"})  # queued only, never contacted
    SystemAccount.objects.create(system=ad, person=ada, name="ada", state=AccountState.PRESENT)
    me = Actor.themselves(ada)
    second, third = "third-Copper-meadow-falcon-27", "fourth-Silver-canyon-otter-63"

    def own_change(old: str, new: str, **choice) -> Operation:
        Operation.objects.all().delete()
        directory.set_password(ada, Secret(new), actor=me, door="portal",
                               action="user.password.change", old_password=Secret(old),
                               **choice)
        return Operation.objects.get()

    assert CURRENT_PASSWORD not in own_change(FIRST, NEW).secret_attributes()  # generated
    assert own_change(NEW, second).secret_attributes() == {CURRENT_PASSWORD: Secret(NEW)}
    account = SystemAccount.objects.get()
    own_change(second, third, accounts=[account.pk], with_keystead=False)
    assert CURRENT_PASSWORD not in own_change(second, third).secret_attributes()


def test_an_account_made_again_no_longer_holds_the_persons_password(ada: User) -> None:
    """A deleted account created again gets the creation's password, not the person's."""
    ad = System.objects.create(name="corp-ad", connector=ConnectorType.AD,
                               settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                         "bind_dn": "cn=x"})  # queued only, never contacted
    account = SystemAccount.objects.create(system=ad, person=ada, name="ada",
                                           state=AccountState.DELETED, has_persons_password=True)
    services.queue_account_creation(ad, "ada", person=ada, password=Secret(NEW))
    account.refresh_from_db()
    assert account.state == AccountState.PLANNED and not account.has_persons_password


@pytest.mark.parametrize("ending", ["given up", "cancelled"])
def test_a_password_that_never_arrived_leaves_the_account_without_the_persons(
        ada: User, ending: str) -> None:
    """A password operation given up on (exception) or cancelled: the account keeps its
    old password, so the person's next change resets it instead of proving one it lacks."""
    ad = System.objects.create(name="corp-ad", connector=ConnectorType.AD,
                               settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                         "bind_dn": "cn=x"})  # queued only, never contacted
    SystemAccount.objects.create(system=ad, person=ada, name="ada", state=AccountState.PRESENT,
                                 has_persons_password=True)
    directory.set_password(ada, Secret(NEW), actor=Actor.themselves(ada), door="portal",
                           action="user.password.change", old_password=Secret(FIRST))
    operation = Operation.objects.get()
    assert operation.secret_attributes() == {CURRENT_PASSWORD: Secret(FIRST)}
    assert SystemAccount.objects.get().has_persons_password
    if ending == "given up":
        Operation.objects.filter(pk=operation.pk).update(state=State.RUNNING, lease_owner="w1")
        assert queue.fail("w1", operation.pk, "AD refused", permanent=True) == State.EXCEPTION
    else:
        assert queue.cancel(operation.pk) is not None
    assert not SystemAccount.objects.get().has_persons_password


def test_every_account_but_not_keystead_goes_to_every_account(
        two_accounts, ada: User, prov_slapd: Slapd) -> None:
    (first, first_dn), (second, second_dn) = two_accounts["first"], two_accounts["second"]
    answer = _signed_in().post("/password/change/", {
        "current_password": FIRST, "new_password": NEW, "confirm_password": NEW,
        "targets": [_account_id(first), _account_id(second)]})
    assert answer.status_code == 302, answer.content.decode()
    assert Worker("w1").run(once=True) == 2
    assert binds(prov_slapd, first_dn, NEW) and binds(prov_slapd, second_dn, NEW)
    ada.refresh_from_db()
    assert ada.check_password(FIRST)


def test_an_account_whose_operation_is_not_executed_does_not_hold_the_new_password(
        ada: User) -> None:
    ad = System.objects.create(name="corp-ad", connector=ConnectorType.AD, read_only=True,
                               settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                         "bind_dn": "cn=x"})  # read-only: nothing runs
    SystemAccount.objects.create(system=ad, person=ada, name="ada", state=AccountState.PRESENT,
                                 has_persons_password=True)
    directory.set_password(ada, Secret(NEW), actor=Actor.themselves(ada), door="portal",
                           action="user.password.change", old_password=Secret(FIRST))
    assert Operation.objects.get().state == State.NOT_EXECUTED
    assert not SystemAccount.objects.get().has_persons_password
