"""A successful password step commits without waiting for the disk; everything else waits.

PostgreSQL itself is asked: a trigger (or a held write) records the transaction's own
``synchronous_commit`` setting as its writes run, so each test sees what the
transaction really ran with.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from keystead import hot_sql
from keystead.directory.models import User

from .helpers_live import database_url

pytestmark = [pytest.mark.django_db(transaction=True)]
GOOD = "Vellum-Orchid-Tapestry-42"
RECORD = "INSERT INTO commit_probe (what, setting) SELECT %s, current_setting('synchronous_commit')"


@pytest.fixture
def probe():
    """A table of (what, synchronous_commit as the writing transaction saw it), and a
    trigger that fills it from every audit event and every new session."""
    if connection.vendor != "postgresql":
        pytest.skip("asynchronous commit is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE commit_probe (what text, setting text)")
        cursor.execute("""
            CREATE FUNCTION commit_probe_record() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO commit_probe (what, setting)
              VALUES (TG_TABLE_NAME || coalesce(' ' || (to_jsonb(NEW) ->> 'action') || ' '
                                                || (to_jsonb(NEW) ->> 'outcome'), ''),
                      current_setting('synchronous_commit'));
              RETURN NEW;
            END $$""")
        for table in ("directory_event", "django_session"):
            cursor.execute(f"CREATE TRIGGER commit_probe AFTER INSERT ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION commit_probe_record()")
    try:
        yield lambda: sorted(_rows("SELECT what, setting FROM commit_probe"))
    finally:
        with connection.cursor() as cursor:
            for table in ("directory_event", "django_session"):
                cursor.execute(f"DROP TRIGGER IF EXISTS commit_probe ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS commit_probe_record()")
            cursor.execute("DROP TABLE IF EXISTS commit_probe")


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _block(*, asynchronous: bool) -> None:
    with hot_sql.transaction_writes_at_commit():
        with hot_sql.execute("SELECT 1", []) as answer:  # opens the transaction, as a read does
            assert answer.fetchone() == (1,)
        if asynchronous:
            hot_sql.commit_asynchronously()
        hot_sql.write_at_commit(RECORD, ["held"])


@pytest.mark.parametrize("asynchronous, setting", [(True, "off"), (False, "on")])
def test_a_block_commits_without_waiting_for_the_disk_only_when_it_asks(probe, asynchronous,
                                                                        setting):
    _block(asynchronous=asynchronous)
    assert probe() == [("held", setting)]
    # SET LOCAL ends with its transaction: the connection's next ones wait for the disk again.
    assert _rows("SHOW synchronous_commit") == [("on",)]


def test_outside_a_block_asking_changes_nothing(probe):
    hot_sql.commit_asynchronously()
    hot_sql.write_at_commit(RECORD, ["alone"])
    assert probe() == [("alone", "on")]


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=GOOD)


def _sign_in(client, password: str):
    client.get("/login/")
    return client.post("/login/", {"username": "ada@example.com", "password": password,
                                   "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_a_successful_sign_in_commits_asynchronously_a_refused_one_does_not(probe, ada, client):
    refused = _sign_in(client, "Wrong-Password-0000")
    assert refused.status_code == 200
    assert probe() == [("directory_event login failure", "on")]
    signed_in = _sign_in(client, GOOD)
    assert signed_in.status_code == 302 and "sessionid" in signed_in.cookies
    assert probe() == [("directory_event login failure", "on"),
                       ("directory_event login success", "off"),
                       ("django_session", "off")]
    # Committed, not merely sent: another connection sees the new session at once.
    with psycopg.connect(database_url(connection.settings_dict)) as other:
        key = signed_in.cookies["sessionid"].value
        assert other.execute("SELECT count(*) FROM django_session WHERE session_key = %s",
                             [key]).fetchone() == (1,)
