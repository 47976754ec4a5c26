"""The lockout count is exact when many processes fail at once (PostgreSQL row locks).

Issue 3: "with threshold 5, 40 concurrent wrong attempts from several
processes leave the account locked and the stored count consistent". Two
proofs, each with real separate processes on the real test database:

* through HTTP: ``keystead serve`` (4 worker processes) takes 40
  wrong-password sign-ins released at the same moment;
* straight into the service: 4 Python processes call
  ``sign_in_with_password`` 10 times each, all starting together.

Each runs twice:

* threshold 5: the account ends locked with a stored count of exactly 5.
  Attempts made while the account is already locked are refused but not
  counted (``register_failure`` returns early under the row lock; that is the
  designed semantics), exactly one attempt takes the lock (one ``user.lock``
  event, one notice mail), and every caller gets the same generic answer;
* threshold 100 (never reached): the stored count is exactly 40. This is the
  run that catches lost updates: with a read-modify-write in Python two
  processes would both store "n + 1", and at threshold 5 that only shows up as
  extra attempts before the lock, not as a wrong final number.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login.passwords import GENERIC_FAILURE
from keystead.policy.models import LogonPolicy

from .helpers_live import csrf_token, database_url, live_keystead, post_sign_in, server_env

pytestmark = pytest.mark.slow

EMAIL = "grace@example.com"
GOOD = "Quartz-Lantern-Meadow-1906"
MAX_FAILURES = 5
NEVER_REACHED = 100
LOCK_MINUTES = 15
ATTEMPTS = 40
LOCK_SUBJECT = "Your Keystead account is locked"
ERROR_DIV = re.compile(r'<div class="error" role="alert">(.*?)</div>', re.S)
CHILD = Path(__file__).with_name("helpers_lockout_child.py")


@pytest.fixture(params=[MAX_FAILURES, NEVER_REACHED], ids=["threshold-5", "threshold-100"])
def threshold(request) -> int:
    return request.param


@pytest.fixture
def grace(transactional_db, threshold) -> User:
    """A user in committed rows (other processes must see them) and the policy under test."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: several processes on one SQLite file prove nothing "
                    "about row locks (set KEYSTEAD_DATABASE_URL=postgres://...)")
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"max_failures": threshold, "lock_minutes": LOCK_MINUTES})
    return User.objects.create_user(EMAIL, "Grace", "Hopper", password=GOOD)


def other_connections() -> int:
    """Connections to this test database other than the test's own (one per worker used)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def assert_counted_exactly(user: User, threshold: int, started) -> None:
    """The stored state after ATTEMPTS concurrent failures, for either threshold."""
    user.refresh_from_db()
    failures = Event.objects.filter(action="login", outcome="failure", target_id=str(user.pk))
    assert failures.count() == ATTEMPTS
    locks = Event.objects.filter(action="user.lock", target_id=str(user.pk)).count()
    if threshold > ATTEMPTS:
        assert user.failed_logins == ATTEMPTS  # every failure counted, none lost
        assert not user.is_locked() and locks == 0
        return
    assert user.failed_logins == threshold
    assert user.is_locked() and locks == 1
    assert user.locked_at >= started
    assert abs(user.locked_until - user.locked_at - timedelta(minutes=LOCK_MINUTES)) < \
        timedelta(seconds=1)


def test_forty_concurrent_wrong_sign_ins_through_keystead_serve(grace, threshold, tmp_path):
    started = timezone.now()
    barrier = threading.Barrier(ATTEMPTS)

    def attempt(server_base: str, i: int) -> httpx.Response:
        with httpx.Client(timeout=120) as client:
            token = csrf_token(client, server_base)
            barrier.wait(timeout=120)  # every POST leaves at the same moment
            return post_sign_in(client, server_base, token, EMAIL, f"Wrong-Guess-Number-{i}")

    # Forty failures from one address: the address throttle would answer most of them.
    with live_keystead(database_url(connection.settings_dict), tmp_path, workers=4,
                       env={"KEYSTEAD_THROTTLE_FAILURES": "0"}) as server:
        idle = other_connections()
        with ThreadPoolExecutor(ATTEMPTS) as pool:
            responses = list(pool.map(lambda i: attempt(server.base, i), range(ATTEMPTS)))
        # Each worker keeps its own connection: several processes did the counting.
        assert other_connections() - idle >= 2

        assert [r.status_code for r in responses] == [200] * ATTEMPTS
        answers = {tuple(ERROR_DIV.findall(r.text)) for r in responses}
        assert answers == {(GENERIC_FAILURE,)}
        assert_counted_exactly(grace, threshold, started)

        if threshold == MAX_FAILURES:
            # The right password now gets the very same answer, and is not counted either.
            with httpx.Client(timeout=60) as client:
                token = csrf_token(client, server.base)
                late = post_sign_in(client, server.base, token, EMAIL, GOOD)
            assert late.status_code == 200
            assert ERROR_DIV.findall(late.text) == [GENERIC_FAILURE]
            grace.refresh_from_db()
            assert grace.failed_logins == MAX_FAILURES

    log = server.log_path.read_text()  # read after the server stopped: all output flushed
    assert log.count(f"Subject: {LOCK_SUBJECT}") == (threshold == MAX_FAILURES)
    assert "Traceback" not in log


def test_four_processes_calling_the_service_count_exactly(grace, threshold, tmp_path):
    started = timezone.now()
    go = tmp_path / "go"
    env = server_env(database_url(connection.settings_dict), tmp_path / "data",
                     "http://127.0.0.1:8000")
    per_process = ATTEMPTS // 4
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), EMAIL, "Wrong-Guess-Again", str(per_process), str(go)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = []
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < len(children):
            assert all(c.poll() is None for c in children), "a child process died early"
            assert time.monotonic() < deadline, "the child processes did not get ready"
            time.sleep(0.05)
        go.touch()
        for child in children:
            out, err = child.communicate(timeout=180)
            assert child.returncode == 0, err
            outputs.append(out)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    reports = [json.loads(line) for out in outputs for line in out.splitlines()
               if line.startswith('{"pid"')]
    assert len({r["pid"] for r in reports}) == 4
    assert [x for r in reports for x in r["results"]] == ["failed"] * ATTEMPTS
    assert_counted_exactly(grace, threshold, started)
    notices = sum(out.count(f"Subject: {LOCK_SUBJECT}") for out in outputs)
    assert notices == (threshold == MAX_FAILURES)
