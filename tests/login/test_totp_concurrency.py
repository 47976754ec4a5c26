"""The same TOTP code (and the same backup code) sent at once by many callers is accepted once.

Each thread has its own PostgreSQL connection, so this is the race several web
processes would run: the one conditional UPDATE must let exactly one win.
"""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from keystead.directory.models import User
from keystead.login import backup_codes, totp

pytestmark = [pytest.mark.django_db(transaction=True)]
RACERS = 8


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the race is run on PostgreSQL (several connections at once)")


def race(attempt) -> list:
    gate = threading.Barrier(RACERS)

    def one(_):
        try:
            gate.wait()
            return attempt()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def test_one_totp_code_sent_eight_times_at_once_is_accepted_once():
    user = User.objects.create_user("race@example.com", "Race", "Condition", password="x" * 20)
    device = totp.start_enrolment(user)
    seed = totp.seed_of(device).reveal()
    now = time.time()
    confirm_code = subprocess.run(["oathtool", "--totp", "-N", f"@{int(now) - 30}", "-b", seed],
                                  check=True, capture_output=True, text=True).stdout.strip()
    assert totp.confirm(user, device, confirm_code, now=now)
    code = subprocess.run(["oathtool", "--totp", "-N", f"@{int(now) + 30}", "-b", seed],
                          check=True, capture_output=True, text=True).stdout.strip()
    verdicts = race(lambda: totp.verify(user, code, now=now))
    assert sum(v.ok for v in verdicts) == 1
    assert {v.reason for v in verdicts if not v.ok} == {"code already used"}


def test_one_backup_code_sent_eight_times_at_once_is_accepted_once():
    user = User.objects.create_user("race2@example.com", "Race", "Two", password="x" * 20)
    code = backup_codes.generate(user)[0].reveal()
    assert sum(race(lambda: backup_codes.use(user, code))) == 1
    assert backup_codes.remaining(user) == 9
