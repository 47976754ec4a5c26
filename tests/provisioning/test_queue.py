"""The operation queue on PostgreSQL: flags, per-account order, blocking, leases, archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Event, Outcome, User
from keystead.provisioning import config, queue, rules, services
from keystead.provisioning.models import (
    ArchivedOperation,
    ConnectorType,
    Kind,
    Operation,
    Reason,
    State,
    System,
    SystemAccount,
)
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

SETTINGS = config.QueueSettings(retry_schedule=(timedelta(seconds=30), timedelta(minutes=5)),
                                max_attempts=3, lease=timedelta(seconds=60))


@pytest.fixture
def system() -> System:
    return System.objects.create(name="target", connector=ConnectorType.SQL)


def states(*ids: int) -> list[str]:
    found = dict(Operation.objects.filter(id__in=ids).values_list("id", "state"))
    return [found.get(i, "archived") for i in ids]


def test_admission_follows_the_flags() -> None:
    flags = dict(read_only=False, disabled=False, block_create=False, block_update=False,
                 block_delete=False)
    assert rules.admission(kind="create", **flags) == (State.CREATED, Reason.NONE)
    assert rules.admission(kind="create", **{**flags, "read_only": True, "disabled": True}) \
        == (State.NOT_EXECUTED, Reason.READ_ONLY)
    assert rules.admission(kind="password", **{**flags, "block_update": True}) \
        == (State.NOT_EXECUTED, Reason.BLOCKED_KIND)
    assert rules.admission(kind="delete", **{**flags, "block_create": True}) \
        == (State.CREATED, Reason.NONE)
    assert rules.admission(kind="delete", **{**flags, "disabled": True}) \
        == (State.NOT_EXECUTED, Reason.DISABLED)


def test_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_RETRY_SCHEDULE", "10s, 1m")
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ATTEMPTS", "4")
    loaded = config.load()
    assert loaded.retry_schedule == (timedelta(seconds=10), timedelta(minutes=1))
    assert loaded.delay_after(1) == timedelta(seconds=10)
    assert loaded.delay_after(7) == timedelta(minutes=1)  # the last wait repeats
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_RETRY_SCHEDULE", "soon")
    with pytest.raises(ValueError, match="KEYSTEAD_PROVISIONING_RETRY_SCHEDULE"):
        config.load()


def test_a_password_among_the_attributes_is_refused(system: System) -> None:
    for attributes in ({"userPassword": "x"}, {"note": Secret("x")}, {"__PASSWORD__": "x"},
                       {"unicodePwd": "x"}, {"client_secret": "x"}):
        with pytest.raises(queue.QueueInputError, match="pass the password as `password`"):
            queue.enqueue(system, "ada", Kind.UPDATE, attributes=attributes)
    assert not Operation.objects.exists()
    ordinary = {"postalCode": "1815", "employeeKey": "7", "passwordSet": True}
    assert queue.enqueue(system, "ada", Kind.UPDATE, attributes=ordinary).attributes == ordinary


def test_read_only_operations_are_kept_not_executed_and_the_admin_told(system: System) -> None:
    System.objects.filter(pk=system.pk).update(read_only=True)
    system.refresh_from_db()
    op = services.queue_operation(system, "ada", Kind.CREATE, attributes={"cn": "Ada"})
    assert (op.state, op.reason) == (State.NOT_EXECUTED, Reason.READ_ONLY)
    assert op.why == "not executed: the system is read-only"
    assert queue.claim("w", 10, settings=SETTINGS) == []
    event = Event.objects.get(action="provisioning.not_executed")
    assert event.detail["reason"] == "read_only"
    with pytest.raises(services.ProvisioningRefused, match="is read-only; clear that flag"):
        services.retry(op.id, actor=OPERATOR)


def test_a_disabled_system_keeps_operations_until_enabled(system: System) -> None:
    services.change_flags(system, actor=OPERATOR, disabled=True)
    op = queue.enqueue(system, "ada", Kind.CREATE, password=Secret("pw-1"))
    assert (op.state, op.reason) == (State.NOT_EXECUTED, Reason.DISABLED)
    assert queue.claim("w", 10, settings=SETTINGS) == []
    assert services.change_flags(system, actor=OPERATOR, disabled=False) == ["disabled"]
    assert [c.id for c in queue.claim("w", 10, settings=SETTINGS)] == [op.id]
    change = Event.objects.get(action="provisioning.system.change",
                               detail__changed={"disabled": False})
    assert change.detail["released"] == 1


def test_a_blocked_kind_is_not_executed_and_holds_the_account_back(system: System) -> None:
    services.change_flags(system, actor=OPERATOR, block_create=True)
    create = queue.enqueue(system, "ada", Kind.CREATE)
    update = queue.enqueue(system, "ada", Kind.UPDATE, attributes={"cn": "Ada"})
    other = queue.enqueue(system, "alan", Kind.UPDATE, attributes={"cn": "Alan"})
    assert (create.state, create.reason) == (State.NOT_EXECUTED, Reason.BLOCKED_KIND)
    assert (update.state, update.blocked_behind) == (State.BLOCKED, create.id)
    assert update.why == f"blocked: waiting behind operation {create.id}"
    assert [c.id for c in queue.claim("w", 10, settings=SETTINGS)] == [other.id]


def test_one_account_runs_in_order_others_in_parallel(system: System) -> None:
    a1 = queue.enqueue(system, "ada", Kind.CREATE, password=Secret("pw-1"))
    a2 = queue.enqueue(system, "ada", Kind.PASSWORD, password=Secret("pw-2"))
    b1 = queue.enqueue(system, "alan", Kind.CREATE)
    assert a2.state == State.CREATED  # waits its turn, nothing wrong
    first = queue.claim("w1", 10, settings=SETTINGS)
    assert [op.id for op in first] == [a1.id, b1.id]
    assert queue.claim("w2", 10, settings=SETTINGS) == []  # a2 waits behind running a1
    assert queue.finish("w1", [a1.id, b1.id]) == [a1.id, b1.id]
    assert [op.id for op in queue.claim("w2", 10, settings=SETTINGS)] == [a2.id]
    archived = ArchivedOperation.objects.get(operation_id=a1.id)
    assert (archived.state, archived.had_password, archived.attempts) == (State.EXECUTED,
                                                                        True, 1)
    assert not hasattr(archived, "password_encrypted")


def test_a_failure_blocks_the_account_until_retried_or_cancelled(system: System) -> None:
    a1 = queue.enqueue(system, "ada", Kind.CREATE)
    a2 = queue.enqueue(system, "ada", Kind.UPDATE, attributes={"cn": "Ada"})
    b1 = queue.enqueue(system, "alan", Kind.CREATE)
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        queue.claim("w", 1, settings=SETTINGS)
        assert queue.fail("w", a1.id, "LDAP create failed: Busy", settings=SETTINGS) \
            == State.CREATED
        waiting = Operation.objects.get(id=a1.id)
        assert waiting.next_attempt_at == now + timedelta(seconds=30)
        assert waiting.last_error == "LDAP create failed: Busy"
        assert states(a2.id) == [State.BLOCKED]
        a3 = queue.enqueue(system, "ada", Kind.DELETE)
        assert (a3.state, a3.blocked_behind) == (State.BLOCKED, a1.id)
        assert [op.id for op in queue.claim("w", 10, settings=SETTINGS)] == [b1.id]
        queue.finish("w", [b1.id])

        for attempt in (2, 3):
            clock.shift(timedelta(minutes=10))
            assert [op.id for op in queue.claim("w", 10, settings=SETTINGS)] == [a1.id]
            expected = State.CREATED if attempt < 3 else State.EXCEPTION
            assert queue.fail("w", a1.id, "still busy", settings=SETTINGS) == expected
        assert Operation.objects.get(id=a1.id).attempts == 3
        clock.shift(timedelta(hours=1))
        assert queue.claim("w", 10, settings=SETTINGS) == []  # exception holds the account

    services.cancel(a1.id, actor=OPERATOR)
    assert states(a1.id, a2.id, a3.id) == ["archived", State.CREATED, State.CREATED]
    assert ArchivedOperation.objects.get(operation_id=a1.id).state == State.CANCELLED
    assert [op.id for op in queue.claim("w", 10, settings=SETTINGS)] == [a2.id]


def test_retry_runs_an_exception_again_with_fresh_attempts(system: System) -> None:
    op = queue.enqueue(system, "ada", Kind.CREATE)
    queue.claim("w", 1, settings=SETTINGS)
    queue.fail("w", op.id, "Object class violation", permanent=True, settings=SETTINGS)
    assert states(op.id) == [State.EXCEPTION]
    retried = services.retry(op.id, actor=OPERATOR)
    assert (retried.state, retried.attempts) == (State.CREATED, 0)
    assert [c.id for c in queue.claim("w", 1, settings=SETTINGS)] == [op.id]
    with pytest.raises(services.ProvisioningRefused, match="only an operation in exception"):
        services.retry(op.id, actor=OPERATOR)
    with pytest.raises(services.ProvisioningRefused, match="is running; wait"):
        services.cancel(op.id, actor=OPERATOR)
    assert Event.objects.filter(action="provisioning.retry", outcome=Outcome.SUCCESS).count() == 1


def test_an_expired_lease_is_claimed_again_and_the_old_holder_loses_it(system: System) -> None:
    op = queue.enqueue(system, "ada", Kind.CREATE, password=Secret("pw-1"))
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        assert [c.id for c in queue.claim("dead", 10, settings=SETTINGS)] == [op.id]
        clock.shift(timedelta(seconds=40))
        assert queue.renew("dead", [op.id], settings=SETTINGS) == 1  # alive: renewed
        clock.shift(timedelta(seconds=40))
        assert queue.claim("other", 10, settings=SETTINGS) == []  # renewed lease still holds
        clock.shift(timedelta(seconds=61))
        again = queue.claim("other", 10, settings=SETTINGS)
        assert [(c.id, c.attempts, c.lease_owner) for c in again] == [(op.id, 2, "other")]
        assert queue.finish("dead", [op.id]) == []  # the old holder records nothing
        assert queue.fail("dead", op.id, "late", settings=SETTINGS) is None
        assert queue.finish("other", [op.id]) == [op.id]


def test_release_gives_back_without_spending_an_attempt(system: System) -> None:
    op = queue.enqueue(system, "ada", Kind.CREATE)
    queue.claim("w", 1, settings=SETTINGS)
    assert queue.release("w", [op.id]) == 1
    row = Operation.objects.get(id=op.id)
    assert (row.state, row.attempts, row.lease_owner) == (State.CREATED, 0, "")


def test_retry_and_cancel_need_the_permission_and_refusals_are_audited(system: System) -> None:
    helpdesk = User.objects.create_user("help@example.com", "Help", "Desk", password="x" * 20,
                                        is_staff=True)
    op = queue.enqueue(system, "ada", Kind.CREATE)
    with pytest.raises(NotAllowed, match=r"needs the provisioning\.change_operation"):
        services.cancel(op.id, actor=Actor.person(helpdesk))
    with pytest.raises(NotAllowed):
        services.change_flags(system, actor=Actor.person(helpdesk), read_only=True)
    assert Event.objects.filter(action="provisioning.cancel", outcome=Outcome.DENIED).exists()
    assert states(op.id) == [State.CREATED]
    from django.contrib.auth.models import Permission

    helpdesk.user_permissions.add(Permission.objects.get(codename="change_operation"))
    helpdesk = User.objects.get(pk=helpdesk.pk)
    services.cancel(op.id, actor=Actor.person(helpdesk))
    done = Event.objects.get(action="provisioning.cancel", outcome=Outcome.SUCCESS)
    assert done.actor == helpdesk


def test_a_claim_carries_what_the_worker_needs_with_the_passwords_still_sealed(
        system: System) -> None:
    op = queue.enqueue(system, "ada", Kind.CREATE, attributes={"cn": "Ada"},
                       password=Secret("pw-claimed-1"),
                       secret_attributes={"db_password": Secret("pw-claimed-2")})
    other = System.objects.create(name="second", connector=ConnectorType.SQL)
    queue.enqueue(other, "ada", Kind.DELETE)
    first, second = queue.claim("w", 10, settings=SETTINGS)
    assert (first.id, first.kind, first.account_name, first.attributes, first.attempts,
            first.lease_owner) == (op.id, Kind.CREATE, "ada", {"cn": "Ada"}, 1, "w")
    assert "pw-claimed" not in repr(first) and first.password_encrypted
    assert first.password().reveal() == "pw-claimed-1"
    assert {k: v.reveal() for k, v in first.secret_attributes().items()} == {
        "db_password": "pw-claimed-2"}
    assert (first.system, second.system) == (system, other)
    assert second.password() is None and second.secret_attributes() == {}


def test_an_operation_for_an_account_takes_its_name_as_stored_now(system: System) -> None:
    """A caller that read the account before a rename was recorded (``finish``) still
    queues under the new name: the name is read under the account's row lock, so the
    operation joins the account's line instead of starting one under the old name."""
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    account = SystemAccount.objects.create(system=system, name="ada", person=ada)
    stale = SystemAccount.objects.get(pk=account.pk)
    SystemAccount.objects.filter(pk=account.pk).update(name="ada.lovelace")  # renamed
    operation = services.queue_operation(system, stale.name, Kind.PASSWORD,
                                         password=Secret("Quarry-Lantern-Mosaic-73"),
                                         account=stale)
    assert operation.account_name == "ada.lovelace"
    assert Operation.objects.get(pk=operation.pk).account_name == "ada.lovelace"
