"""Where housekeeping runs: ``keystead housekeeping [--dry-run]``, every provisioning
worker, and several of them at once."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from django.db import connection
from django.utils import timezone

from keystead import housekeeping
from keystead.cli import main
from keystead.directory.models import User
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


def test_every_worker_runs_it():
    expired_rows()
    Worker("w1").run(once=True)
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["live"]
    assert not ResetToken.objects.exists()


def test_a_failing_run_does_not_stop_the_worker(settings, caplog):
    """A broken setting makes housekeeping fail; the worker logs it and goes on."""
    settings.MAIL_RETENTION_DAYS = "thirty"  # not a number of days: the run raises
    caplog.set_level(logging.ERROR, logger="keystead.housekeeping")
    assert Worker("w1").run(once=True) == 0
    assert "housekeeping failed" in caplog.text


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
