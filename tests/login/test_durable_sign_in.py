"""Every write of a sign-in waits for the disk, successful or refused.

PostgreSQL itself is asked: a trigger records, for every audit event and every new
session, the ``synchronous_commit`` setting of the transaction that wrote it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from keystead.directory.models import User

pytestmark = [pytest.mark.django_db(transaction=True)]
GOOD = "Vellum-Orchid-Tapestry-42"
TABLES = ("directory_event", "django_session")


@pytest.fixture
def probe():
    """What each audit event and each new session was written with, as (what, setting)."""
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
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
        for table in TABLES:
            cursor.execute(f"CREATE TRIGGER commit_probe AFTER INSERT ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION commit_probe_record()")
    try:
        def rows() -> list[tuple[str, str]]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT what, setting FROM commit_probe")
                return sorted(cursor.fetchall())
        yield rows
    finally:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS commit_probe ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS commit_probe_record()")
            cursor.execute("DROP TABLE IF EXISTS commit_probe")


@pytest.mark.parametrize("password, written", [
    (GOOD, [("directory_event login success", "on"), ("django_session", "on")]),
    ("not the password", [("directory_event login failure", "on")]),
], ids=["success", "refused"])
def test_a_sign_in_commits_only_once_its_writes_are_on_disk(probe, password, written):
    User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=GOOD)
    Client().post("/login/", {"username": "ada@example.com", "password": password})
    assert probe() == written
