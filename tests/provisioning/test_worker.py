"""Workers end to end: the queue through real connectors, the canary, SIGTERM and SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.housekeeping import schedule
from keystead.housekeeping.models import LastRun
from keystead.provisioning import queue, services
from keystead.provisioning.connectors.sql import SqlConnector
from keystead.provisioning.models import (
    AccountState,
    ArchivedOperation,
    ConnectorType,
    Kind,
    Operation,
    State,
    System,
    SystemAccount,
)
from keystead.provisioning.worker import Worker
from keystead.secret import Secret
from keystead.sources.saml.models import UsedAssertion
from sources.ldap.slapd import Slapd

from .helpers import binds, dump_database, ldap_entries, sql_rows

KEYSTEAD = Path(sys.executable).with_name("keystead")
PERSON = {"cn": "Ada Lovelace", "sn": "Lovelace", "mail": "ada@example.test"}


@pytest.mark.django_db
def test_a_worker_creates_the_account_and_changes_its_password(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    account = SystemAccount.objects.create(system=ldap_system, name="ada")
    services.queue_operation(ldap_system, "ada", Kind.CREATE, attributes=PERSON,
                             password=Secret("first-Pass-2201"), account=account)
    services.queue_operation(ldap_system, "ada", Kind.PASSWORD,
                             password=Secret("second-Pass-3302"), account=account)
    assert Worker("w1", batch=10).run(once=True) == 2
    dn = f"uid=ada,{accounts_ou}"
    assert binds(prov_slapd, dn, "second-Pass-3302")
    assert not binds(prov_slapd, dn, "first-Pass-2201")
    account.refresh_from_db()
    assert (account.state, account.uid) == (AccountState.PRESENT, dn)
    assert not Operation.objects.exists()
    assert list(ArchivedOperation.objects.order_by("operation_id")
                .values_list("kind", "state")) == [("create", "executed"),
                                                    ("password", "executed")]


@pytest.mark.django_db
def test_a_sql_target_through_the_worker(sql_table) -> None:
    url, table = sql_table
    system = System.objects.create(
        name="sql", connector=ConnectorType.SQL,
        settings={"url": url, "table": table, "key_column": "login",
                  "columns": {"cn": "full_name"}, "password_column": "pass"})
    queue.enqueue(system, "ada", Kind.CREATE, attributes={"cn": "Ada"},
                  password=Secret("{SSHA}from-a-script"))
    queue.enqueue(system, "alan", Kind.CREATE, attributes={"cn": "Alan"})
    queue.enqueue(system, "alan", Kind.DELETE)
    assert Worker("w1").run(once=True) == 3
    assert [(r["login"], r["full_name"], r["pass"]) for r in sql_rows(url, table)] == [
        ("ada", "Ada", "{SSHA}from-a-script")]


@pytest.mark.django_db(transaction=True)
def test_canary_password_is_nowhere_in_clear(ldap_system: System, prov_slapd: Slapd,
                                             accounts_ou: str, caplog) -> None:
    canary = f"Canary-{uuid.uuid4().hex}"
    services.queue_operation(ldap_system, "ada", Kind.CREATE, attributes=PERSON,
                             password=Secret(canary))
    # sn missing: the target refuses, the error is recorded, the password must not be.
    failing = services.queue_operation(ldap_system, "bob", Kind.CREATE,
                                       attributes={"cn": "Bob"}, password=Secret(canary))
    queued = dump_database()
    assert canary not in queued
    assert "provisioning_operation" in queued  # the dump did hold the queue
    caplog.set_level(logging.DEBUG)
    Worker("w1").run(once=True)
    assert binds(prov_slapd, f"uid=ada,{accounts_ou}", canary)
    failed = Operation.objects.get(id=failing.id)
    assert failed.state == State.EXCEPTION and "Object class violation" in failed.last_error
    assert Event.objects.filter(action="provisioning.exception").exists()
    assert canary not in dump_database()
    assert canary not in caplog.text
    services.cancel(failing.id, actor=OPERATOR)
    assert canary not in dump_database()


def _worker_env(tmp_path: Path) -> dict[str, str]:
    db = connection.settings_dict
    return {**os.environ,
            "KEYSTEAD_DATABASE_URL": (f"postgres://{db['USER'] or 'postgres'}@"
                                      f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                                      f"{db['NAME']}"),
            "KEYSTEAD_SECRET_KEY": settings.SECRET_KEY,
            "KEYSTEAD_DATA_DIR": str(tmp_path),
            "KEYSTEAD_PROVISIONING_LEASE": "3s",
            "KEYSTEAD_PROVISIONING_RETRY_SCHEDULE": "1s",
            "KEYSTEAD_LOG_LEVEL": "INFO"}


def _start(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen([str(KEYSTEAD), "worker", "--id", name, "--batch", "50",
                                 "--idle", "0.2"], env=env, stdout=out, stderr=out)


def _wait_for(condition, what: str, seconds: float = 240) -> None:
    """Poll until ``condition()``; the bound only stops a hung test, it measures nothing."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, tmp_path: Path) -> None:
    total = 1000
    passwords = {f"user{i:04d}": f"pw-{i}-{uuid.uuid4().hex[:12]}" for i in range(total)}
    for name, password in passwords.items():
        queue.enqueue(ldap_system, name, Kind.CREATE,
                      attributes={"cn": name, "sn": "Person"}, password=Secret(password))
    env = _worker_env(tmp_path)
    log = tmp_path / "workers.log"
    first, second = _start("first", env, log), _start("second", env, log)
    restarted = None
    try:
        # Kill the first while it holds a claimed batch, after some work is recorded.
        _wait_for(lambda: ArchivedOperation.objects.count() >= 100 and Operation.objects.filter(
            lease_owner="first", state=State.RUNNING).exists(), "the first worker mid-batch")
        first.send_signal(signal.SIGKILL)
        first.wait()
        held = Operation.objects.filter(lease_owner="first", state=State.RUNNING).count()
        assert held > 0  # operations were in its hands when it died
        restarted = _start("first-again", env, log)
        _wait_for(lambda: not Operation.objects.exists(), "the queue to drain")
        assert _stop(second) == 0 and _stop(restarted) == 0  # SIGTERM: a clean stop
    finally:
        for proc in (first, second, restarted):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    entries = ldap_entries(prov_slapd, accounts_ou)
    assert len(entries) == total == len(set(entries))
    archived = list(ArchivedOperation.objects.values_list("operation_id", "state"))
    assert len(archived) == total == len({op_id for op_id, _ in archived})
    assert {state for _, state in archived} == {State.EXECUTED}
    for name in ("user0000", "user0500", "user0999"):
        assert binds(prov_slapd, f"uid={name},{accounts_ou}", passwords[name])
    text = log.read_text()
    assert "stopped after" in text
    assert not any(password in text for password in passwords.values())


class _StopsAfterOne(Worker):
    """A worker asked to stop (as by SIGTERM) while its first operation is in hand: its
    SQL connector (which sends one operation at a time) stops it after the first."""

    def _connector(self, system):
        worker = self

        class Stopping(SqlConnector):
            def create(self, name, attributes):
                try:
                    return super().create(name, attributes)
                finally:
                    worker.stop()

        return Stopping(system.settings, system.secrets())


@pytest.mark.django_db
def test_a_stopping_worker_records_what_it_did_and_hands_back_the_rest(sql_table) -> None:
    url, table = sql_table
    system = System.objects.create(name="sql", connector=ConnectorType.SQL,
                                   settings={"url": url, "table": table, "key_column": "login"})
    ops = [queue.enqueue(system, name, Kind.CREATE) for name in ("a", "b", "c")]
    assert _StopsAfterOne("w1").run() == 1
    assert [r["login"] for r in sql_rows(url, table)] == ["a"]
    assert list(Operation.objects.order_by("id").values_list("id", "state", "attempts",
                                                             "lease_owner")) == [
        (ops[1].id, State.CREATED, 0, ""), (ops[2].id, State.CREATED, 0, "")]


@pytest.mark.django_db
def test_a_password_change_reaches_every_system_of_the_person(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str, sql_table) -> None:
    url, table = sql_table
    sql_system = System.objects.create(
        name="sql", connector=ConnectorType.SQL,
        settings={"url": url, "table": table, "key_column": "login", "password_column": "pass"})
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=None)
    services.queue_account_creation(ldap_system, "ada", person=ada, attributes=PERSON,
                                    password=Secret("first-Pass-2201"))
    services.queue_account_creation(sql_system, "ada", person=ada,
                                    password=Secret("first-Pass-2201"))
    Worker("w1").run(once=True)
    ops = services.queue_password_change(ada, Secret("second-Pass-3302"))
    assert [(op.system_id, op.kind, op.attributes) for op in ops] == [
        (ldap_system.id, Kind.PASSWORD, {}), (sql_system.id, Kind.PASSWORD, {})]
    assert Worker("w1").run(once=True) == 2
    assert binds(prov_slapd, f"uid=ada,{accounts_ou}", "second-Pass-3302")
    assert [r["pass"] for r in sql_rows(url, table)] == ["second-Pass-3302"]
    assert set(SystemAccount.objects.values_list("state", flat=True)) == {AccountState.PRESENT}


@pytest.mark.django_db
def test_one_refusal_in_a_batch_fails_only_its_operation(
        ldap_system: System, prov_slapd: Slapd, accounts_ou: str) -> None:
    names = ["ann", "bea", "nosurname", "cid", "dot"]
    accounts = {name: SystemAccount.objects.create(system=ldap_system, name=name)
                for name in names}
    for name in names:
        person = {"cn": name} if name == "nosurname" else {"cn": name, "sn": "Batch"}
        services.queue_operation(ldap_system, name, Kind.CREATE, attributes=person,
                                 password=Secret(f"pw-{name}-7731"), account=accounts[name])
    later = services.queue_operation(ldap_system, "nosurname", Kind.PASSWORD,
                                     password=Secret("pw-later-7731"),
                                     account=accounts["nosurname"])
    assert Worker("w1", batch=10).run(once=True) == 4
    for name in ("ann", "bea", "cid", "dot"):
        dn = f"uid={name},{accounts_ou}"
        assert binds(prov_slapd, dn, f"pw-{name}-7731")
        accounts[name].refresh_from_db()
        assert (accounts[name].state, accounts[name].uid) == (AccountState.PRESENT, dn)
    failed = Operation.objects.get(account_name="nosurname", kind=Kind.CREATE)
    assert failed.state == State.EXCEPTION  # a schema refusal: no retry can help
    assert failed.last_error.startswith("LDAP create failed: Object class violation")
    assert Operation.objects.get(id=later.id).state == State.BLOCKED
    assert ArchivedOperation.objects.filter(state=State.EXECUTED).count() == 4
    assert len(ldap_entries(prov_slapd, accounts_ou)) == 4


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0] > 0


def _in_thread(target: Callable[[], object]) -> threading.Thread:
    """``target`` started in a thread that closes its own database connection at the end."""
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql_table", ["postgresql"], indirect=True)
def test_housekeeping_runs_beside_the_batches(sql_table) -> None:
    """Housekeeping is due when the worker starts, and held up: another transaction holds
    a row it must delete. The worker's batches go on meanwhile; the run finishes, and is
    recorded, once the row is free."""
    url, table = sql_table
    system = System.objects.create(name="sql", connector=ConnectorType.SQL,
                                   settings={"url": url, "table": table, "key_column": "login"})
    LastRun.objects.all().delete()  # due: never run (whatever other tests' workers did)
    UsedAssertion.objects.create(assertion_id="old",
                                 expires_at=timezone.now() - timedelta(minutes=1))
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with transaction.atomic():
            list(UsedAssertion.objects.select_for_update())
            locked.set()
            release.wait(60)

    holder = _in_thread(hold_the_row)
    worker = Worker("w1")
    try:
        assert locked.wait(20)
        running = _in_thread(lambda: worker.run(idle_seconds=0.05))
        assert _until(_waiting_on_a_lock), "housekeeping did not reach the locked row"
        queue.enqueue(system, "ada", Kind.CREATE)
        assert _until(ArchivedOperation.objects.exists), "no batch ran beside housekeeping"
        assert [r["login"] for r in sql_rows(url, table)] == ["ada"]
        assert schedule.last().finished_at is None  # housekeeping still held up
    finally:
        release.set()
        holder.join()
        worker.stop()
    running.join(30)
    assert not running.is_alive()
    row = schedule.last()
    assert (row.started_by, row.failed) == ("w1", False)
    assert dict(row.removed)["used SAML assertions"] == 1
    assert not UsedAssertion.objects.exists()
