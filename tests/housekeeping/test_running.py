"""Where housekeeping runs: ``keystead housekeeping [--dry-run|--status]``, and once per
interval for the whole installation from whichever provisioning worker claims it.

Tests that run a worker are transactional: its housekeeping thread has a connection of
its own and sees only committed rows.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from click.testing import CliRunner
from django.db import connection
from django.utils import timezone

from keystead import housekeeping
from keystead.cli import main
from keystead.directory.models import User
from keystead.housekeeping import schedule
from keystead.housekeeping.models import LastRun
from keystead.login import reset
from keystead.login.models import ResetToken
from keystead.provisioning.worker import Worker
from keystead.sources.saml.models import UsedAssertion

pytestmark = pytest.mark.django_db

SECRET_DIGEST = "5e" * 32  # stands for a reset link's hash: it must never reach a log line


def expired_rows(expired: int = 3) -> None:
    """``expired`` used SAML assertions past their expiry, one live one, and one reset link
    past its cut-off."""
    now = timezone.now()
    UsedAssertion.objects.bulk_create(
        UsedAssertion(assertion_id=f"old-{n}", expires_at=now - timedelta(minutes=1))
        for n in range(expired))
    UsedAssertion.objects.create(assertion_id="live", expires_at=now + timedelta(hours=1))
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="x" * 20)
    link = reset.issue_link(ada, SECRET_DIGEST, None)
    ResetToken.objects.filter(pk=link.pk).update(created_at=now - timedelta(days=2))


@pytest.fixture(autouse=True)
def never_run() -> None:
    """Every test here starts on an installation that never ran housekeeping. (A worker
    run by a non-transactional test elsewhere commits its claim from its own thread, on
    its own connection; that must not count here.)"""
    LastRun.objects.all().delete()


def last_started(minutes_ago: int) -> None:
    """The installation's latest run: one that started ``minutes_ago`` and finished."""
    with time_machine.travel(timezone.now() - timedelta(minutes=minutes_ago)):
        housekeeping.run_on_demand()


def remaining_assertions() -> list[str]:
    return sorted(UsedAssertion.objects.values_list("assertion_id", flat=True))


def run_cli(*args: str):
    return CliRunner().invoke(main, ["housekeeping", *args], env={"COLUMNS": "200"},
                              catch_exceptions=False)


@pytest.mark.smoke  # also on SQLite
def test_dry_run_removes_nothing_and_counts_what_a_run_removes(caplog):
    expired_rows()
    caplog.set_level(logging.INFO, logger="keystead.housekeeping")
    dry = run_cli("--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would be removed" in dry.output
    assert "used SAML assertions" in dry.output and "password-reset links" in dry.output
    assert "4 rows would be removed (dry run: nothing was removed)." in dry.output
    assert UsedAssertion.objects.count() == 4 and ResetToken.objects.count() == 1
    assert schedule.last() is None  # a dry run is not recorded
    assert "(dry run, nothing removed): 1 password-reset links, 3 used SAML assertions " \
           "would be removed" in caplog.text

    real = run_cli()
    assert real.exit_code == 0, real.output
    assert "4 rows removed." in real.output
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["live"]
    assert not ResetToken.objects.exists()
    assert "housekeeping: 1 password-reset links, 3 used SAML assertions removed" in caplog.text
    assert "oauth2_provider" not in caplog.text  # one line per run, the toolkit's kept quiet
    assert SECRET_DIGEST not in caplog.text + dry.output + real.output

    assert "0 rows removed." in run_cli().output
    assert "housekeeping: nothing to remove" in caplog.text


@pytest.mark.smoke  # also on SQLite
def test_the_command_records_its_run_and_shows_it():
    assert run_cli("--status").output == "Last housekeeping run: never run\n"
    expired_rows()
    before = timezone.now()
    assert "4 rows removed." in run_cli().output
    row = schedule.last()
    assert row.started_by == "keystead housekeeping" and not row.failed
    assert before <= row.started_at <= row.finished_at <= timezone.now()
    assert dict(row.removed)["used SAML assertions"] == 3
    assert dict(row.removed)["password-reset links"] == 1
    status = run_cli("--status").output
    assert status.startswith("Last housekeeping run: started ")
    assert " by keystead housekeeping, finished " in status
    assert status.endswith(": 1 password-reset links, 3 used SAML assertions removed\n")

    assert "0 rows removed." in run_cli().output  # on demand: runs again at once
    assert schedule.last().started_at > row.started_at


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_it_when_the_interval_has_passed(never_run):
    last_started(minutes_ago=61)
    expired_rows()
    Worker("w1").run(once=True)
    assert remaining_assertions() == ["live"]
    assert not ResetToken.objects.exists()
    row = schedule.last()
    assert (row.started_by, row.failed) == ("w1", False)
    assert row.finished_at is not None and dict(row.removed)["used SAML assertions"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_fresh_installation_runs_it_at_the_first_workers_start(never_run):
    expired_rows()
    Worker("w1").run(once=True)
    assert remaining_assertions() == ["live"]
    assert schedule.last().started_by == "w1"


@pytest.mark.django_db(transaction=True)
def test_a_worker_does_not_run_it_again_within_the_interval(never_run):
    """Another process (here the command) ran it ten minutes ago: workers starting now,
    one after another, leave it for later."""
    last_started(minutes_ago=10)
    expired_rows()
    Worker("w1").run(once=True)
    Worker("w2").run(once=True)
    assert remaining_assertions() == ["live", "old-0", "old-1", "old-2"]
    assert schedule.last().started_by == "keystead housekeeping"
    with time_machine.travel(timezone.now() + timedelta(minutes=51)):  # due now
        Worker("w3").run(once=True)
    assert remaining_assertions() == ["live"]
    assert schedule.last().started_by == "w3"


@pytest.mark.django_db(transaction=True)
def test_a_failing_run_does_not_stop_the_worker(never_run, settings, caplog):
    """A broken setting makes housekeeping fail; the worker logs it and goes on, and the
    installation's record says it failed."""
    settings.MAIL_RETENTION_DAYS = "thirty"  # not a number of days: the run raises
    caplog.set_level(logging.ERROR, logger="keystead.housekeeping")
    assert Worker("w1").run(once=True) == 0
    assert "housekeeping failed" in caplog.text
    row = schedule.last()
    assert (row.started_by, row.failed, row.removed) == ("w1", True, [])
    assert "failed at" in run_cli("--status").output


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("installation", ["fresh", "due"])
def test_workers_asking_at_the_same_moment_run_it_once(never_run, installation):
    """Eight workers find it due at the same moment (PostgreSQL, each its own
    connection): exactly one claim succeeds, and that worker's run removes the backlog."""
    if connection.vendor != "postgresql":
        pytest.skip("several writers at once need PostgreSQL")
    if installation == "due":
        last_started(minutes_ago=61)
    expired_rows(expired=50)
    ran: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def one_worker(name: str) -> None:
        try:
            start.wait()
            pruned = housekeeping.run_if_due(name)
            if pruned is not None:
                ran.append((name, {p.kind: p.count for p in pruned}["used SAML assertions"]))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [(winner, removed)] = ran
    assert removed == 50
    assert schedule.last().started_by == winner
    assert remaining_assertions() == ["live"]


@pytest.mark.django_db(transaction=True)
def test_several_runs_at_once_remove_each_row_once():
    """Four runs at once on the same backlog (PostgreSQL, each its own connection): none
    fails, the rows removed add up to the backlog, the live row stays."""
    if connection.vendor != "postgresql":
        pytest.skip("several writers at once need PostgreSQL")
    expired_rows(expired=2500)
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def one_run() -> None:
        try:
            start.wait()
            found = {p.kind: p.count for p in housekeeping.run()}
            results.append(found["used SAML assertions"])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 2500
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["live"]
