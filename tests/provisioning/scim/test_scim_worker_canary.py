"""The secret canary through the SCIM door: a system created as the console and the API
create it, its queue worked by the worker against an independent SCIM server. The
password reaches the server; neither it nor the system's bearer token is left in clear
in the database, the log or an operation's recorded error."""

from __future__ import annotations

import logging
import uuid

import pytest

from keystead.directory.authorization import OPERATOR
from keystead.provisioning import services, systems
from keystead.provisioning.models import ConnectorType, Kind, Operation, State, System
from keystead.provisioning.worker import Worker
from keystead.secret import Secret

from ..helpers import dump_database
from .conftest import ScimServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_password_and_the_token_are_nowhere_in_clear(scim_server: ScimServer,
                                                         caplog) -> None:
    canary = f"Canary-scim-{uuid.uuid4().hex}"
    system = systems.create_system(
        System(name="scim-canary", connector=ConnectorType.SCIM,
               settings={"url": scim_server.url}),
        actor=OPERATOR, secret=Secret(scim_server.token))
    services.queue_operation(system, "ann", Kind.CREATE,
                             attributes={"displayName": "Ann Example"}, password=Secret(canary))
    # No such user on the server: a permanent error, recorded on the operation.
    failing = services.queue_operation(system, "nobody", Kind.UPDATE,
                                       attributes={"title": "x"}, password=Secret(canary))
    queued = dump_database()
    assert "provisioning_operation" in queued  # the dump did hold the queue
    assert canary not in queued and scim_server.token not in queued
    caplog.set_level(logging.DEBUG)

    Worker("w1").run(once=True)

    [user] = scim_server.users()
    assert user["userName"] == "ann"
    assert scim_server.url in caplog.text  # the exchange was logged, and checked
    failed = Operation.objects.get(id=failing.id)
    assert failed.state == State.EXCEPTION and "nobody" in failed.last_error
    dump = dump_database()
    assert "provisioning_archivedoperation" in dump
    for secret in (canary, scim_server.token):
        assert secret not in dump
        assert secret not in caplog.text
        assert secret not in failed.last_error
