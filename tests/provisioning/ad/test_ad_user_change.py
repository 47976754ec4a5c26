"""Through the queue to Samba's AD DC: a person's own change is a change (AD checks the
current password) once the account holds the person's password; an administrator's set,
and the first change of an account that started with a generated password, are resets."""

from __future__ import annotations

import uuid

import pytest

from keystead.cli.admin import generate_password
from keystead.directory import services as directory
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from keystead.provisioning import services
from keystead.provisioning.models import Operation, State, System
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from sources.ad.samba import Samba

from ..helpers import accepts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("samba"), pytest.mark.django_db]


def test_user_change_and_admin_set_through_the_queue(ad_settings: dict, samba: Samba) -> None:
    system = System(name="samba-ad-user-change", connector="ad", settings=ad_settings)
    system.set_secrets({"bind_password": Secret(samba.admin_password)})
    system.save()
    name = f"prov-uc-{uuid.uuid4().hex[:6]}"
    ada = User.objects.create_user(f"{name}@example.test", "Ada", "Lovelace", password=None,
                                   username=name)
    first, second, third, fourth = (generate_password() for _ in range(4))
    services.queue_account_creation(system, name, person=ada, attributes={"sn": "Lovelace"},
                                    password=Secret(first))  # as a role's generated one
    assert Worker("w-ad-uc").run(once=True) == 1
    dn = f"CN={name},{ad_settings['base_dn']}"
    assert accepts(samba.connect(), dn, first)

    # The account's password is not the person's: their first change resets it.
    directory.set_password(ada, Secret(second), actor=OPERATOR, door="portal",
                           action="user.password.change", old_password=Secret("not-this-one"))
    Worker("w-ad-uc").run(once=True)
    assert not Operation.objects.filter(system=system).exists()
    assert accepts(samba.connect(), dn, second) and not accepts(samba.connect(), dn, first)

    # Now it holds the person's password: the next change proves the current one.
    directory.set_password(ada, Secret(third), actor=OPERATOR, door="portal",
                           action="user.password.change", old_password=Secret(second))
    Worker("w-ad-uc").run(once=True)
    assert not Operation.objects.filter(system=system).exists()
    assert accepts(samba.connect(), dn, third) and not accepts(samba.connect(), dn, second)

    # A current password AD does not know: AD refuses the change; the operation says so.
    directory.set_password(ada, Secret(fourth), actor=OPERATOR, door="portal",
                           action="user.password.change", old_password=Secret(first))
    Worker("w-ad-uc").run(once=True)
    failed = Operation.objects.get(system=system)
    assert failed.state == State.EXCEPTION and failed.last_error
    assert first not in failed.last_error and fourth not in failed.last_error
    assert accepts(samba.connect(), dn, third)
