"""A person's own password change to Active Directory carries the current password (as a
secret attribute) so the connector changes it; an administrator's set stays a reset.

This checks the queued operations; ``tests/provisioning/ad/test_ad_user_change.py``
sends them to Samba's AD DC.
"""

from __future__ import annotations

import pytest

from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.provisioning import services
from keystead.provisioning.connectors.ad import CURRENT_PASSWORD
from keystead.provisioning.models import (
    AccountState,
    MappedAttribute,
    Operation,
    System,
    SystemAccount,
)
from keystead.secret import Secret

pytestmark = pytest.mark.django_db
OLD, NEW = "Old-Canary-Orchard-4471", "New-Canary-Violin-8812"


@pytest.fixture
def ada(db) -> User:
    person = User.objects.create_user("ada@example.test", "Ada", "Lovelace", password=OLD,
                                      username="ada")
    return person


def _system(name: str, connector: str) -> System:
    """A system that is never contacted here: queuing does not connect."""
    system = System.objects.create(name=name, connector=connector,
                                   settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                             "bind_dn": "cn=x"})
    return system


def _account(system: System, person: User) -> None:
    """An account that holds the person's password (as after a change that reached it)."""
    SystemAccount.objects.create(system=system, person=person, name=person.username,
                                 state=AccountState.PRESENT, has_persons_password=True)


def _by_system() -> dict[str, Operation]:
    return {op.system.name: op for op in Operation.objects.select_related("system")}


def test_the_persons_own_change_carries_the_current_password_to_ad_only(
        ada: User, ldap_system: System) -> None:
    ad = _system("corp-ad", "ad")
    for system in (ad, ldap_system):
        _account(system, ada)
    directory.set_password(ada, Secret(NEW), actor=OPERATOR, door="portal",
                           action="user.password.change", old_password=Secret(OLD))
    ops = _by_system()
    assert ops["corp-ad"].password() == Secret(NEW)
    assert ops["corp-ad"].secret_attributes() == {CURRENT_PASSWORD: Secret(OLD)}
    assert ops["corp-ad"].attributes == {}  # never a plain attribute
    assert ops[ldap_system.name].secret_attributes() == {}  # other systems: as before
    for op in ops.values():
        stored = f"{op.attributes} {op.secret_attributes_encrypted} {op.password_encrypted}"
        assert OLD not in stored and NEW not in stored
    events = " ".join(str(e.detail) for e in Event.objects.all())
    assert OLD not in events and NEW not in events


def test_an_administrators_set_stays_a_reset(ada: User) -> None:
    ad = _system("corp-ad", "ad")
    _account(ad, ada)
    directory.set_password(ada, Secret(NEW), actor=OPERATOR, door="admin")
    (op,) = Operation.objects.all()
    assert op.password() == Secret(NEW) and op.secret_attributes() == {}


@pytest.mark.parametrize("together", [False, True])
def test_the_current_password_goes_with_the_main_password_only(
        ada: User, together: bool) -> None:
    ad = _system("corp-ad", "ad")
    ad.send_password_attributes_together = together
    ad.save()
    MappedAttribute.objects.create(system=ad, name="__PASSWORD__", is_password=True)
    MappedAttribute.objects.create(system=ad, name="description", is_password=True,
                                   script="value == null ? null : ssha(value)")
    _account(ad, ada)
    ops = services.queue_password_change(ada, Secret(NEW), current=Secret(OLD))
    main = [op for op in ops if op.password() is not None]
    assert len(main) == 1 and main[0].secret_attributes()[CURRENT_PASSWORD] == Secret(OLD)
    assert len(ops) == (1 if together else 2)
    for op in ops:
        if op.password() is None:
            assert CURRENT_PASSWORD not in op.secret_attributes()
