"""A database server restart costs no failed request: stale connections are noticed.

Every worker of a real ``keystead serve`` holds a persistent connection; the test
cuts them all from the PostgreSQL side (as a restart does) and asks again.
"""

from __future__ import annotations

import httpx
import pytest
from django.db import connection

from .helpers_live import database_url, live_keystead

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_requests_after_the_connections_were_cut_are_answered(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL server's connections")
    with live_keystead(database_url(connection.settings_dict), tmp_path, workers=2) as server, \
            httpx.Client(timeout=30) as client:
        before = [client.get(f"{server.base}/readyz").status_code for _ in range(20)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            cut = cursor.fetchone()[0]
        after = [client.get(f"{server.base}/readyz").status_code for _ in range(20)]
    assert before == [200] * 20
    assert cut >= 1, "the workers held no connection to cut"
    assert after == [200] * 20
