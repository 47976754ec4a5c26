"""Hot statements through libpq (``hot_sql`` on ``pg_wire``).

A statement sent before a block of work and answered after it (``count_later``): on
PostgreSQL outside a transaction block it is in flight while the block runs, and its
answer is read even when the block fails; elsewhere it runs before the block. Prepared
statements survive rollbacks and are prepared again if the server lost them; the first
statement of a transaction carries its BEGIN."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import override_settings

from keystead import hot_sql
from keystead.directory.models import User

from .helpers_live import database_url

pytestmark = pytest.mark.django_db(transaction=True)
RENAME = ('WITH changed AS (UPDATE "directory_user" SET "given_name" = %s'
          ' WHERE "email" = %s RETURNING 1) SELECT count(*) FROM changed')
COUNT_NAMED = 'SELECT count(*) FROM "directory_user" WHERE "given_name" = %s'
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=None)


def _other_connection() -> psycopg.Connection:
    return psycopg.connect(database_url(connection.settings_dict), autocommit=True)


@pytest.mark.smoke
@pytest.mark.parametrize("prepared", [True, False])
def test_the_answer_of_a_read(ada, prepared):
    with override_settings(DATABASE_PREPARED_STATEMENTS=prepared):
        for name, expected in (("Ada", 1), ("Nobody", 0), ("Ada", 1)):
            with hot_sql.count_later(COUNT_NAMED, [name]) as answer:
                pass
            assert answer.value == expected


@postgresql_only
@pytest.mark.parametrize("prepared", [True, False])
def test_the_answer_is_there_after_the_block_and_the_write_is_committed(ada, prepared):
    with override_settings(DATABASE_PREPARED_STATEMENTS=prepared):
        with hot_sql.count_later(RENAME, ["Augusta", "ada@example.com"]) as first:
            pass
        with hot_sql.count_later(RENAME, ["Augusta", "nobody@example.com"]) as second:
            pass
        with hot_sql.count_later(RENAME, ["Ada", "ada@example.com"]) as again:  # the same again
            pass
    assert (first.value, second.value, again.value) == (1, 0, 1)
    assert User.objects.get(pk=ada.pk).given_name == "Ada"


@postgresql_only
def test_the_statement_runs_while_the_block_runs(ada):
    """The statement waits for a lock another session holds; the block sees it waiting,
    then lets it go. Were the statement run before the block, it would time out first."""
    waiting = ("WITH held AS (SELECT pg_advisory_xact_lock(4711))"
               " SELECT count(*) FROM held, (SELECT %s::int) AS x")
    with _other_connection() as other, connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")
        pid = connection.connection.info.backend_pid
        other.execute("SELECT pg_advisory_lock(4711)")
        with hot_sql.count_later(waiting, [1]) as answer:
            for _ in range(200):
                row = other.execute("SELECT wait_event_type FROM pg_stat_activity"
                                    " WHERE pid = %s", [pid]).fetchone()
                if row[0] == "Lock":
                    break
                time.sleep(0.02)
            assert row[0] == "Lock"
            assert answer.value is None  # not answered yet
            other.execute("SELECT pg_advisory_unlock(4711)")
        assert answer.value == 1
        cursor.execute("RESET lock_timeout")


@postgresql_only
def test_using_the_connection_inside_the_block_fails_loudly_and_leaves_it_usable(ada):
    with pytest.raises(DatabaseError), \
            hot_sql.count_later(RENAME, ["Augusta", "ada@example.com"]) as answer:
        User.objects.count()
    assert answer.value == 1  # read anyway: the write went through
    assert User.objects.get(pk=ada.pk).given_name == "Augusta"


@pytest.mark.smoke
def test_a_failing_block_still_reads_the_answer(ada):
    with pytest.raises(RuntimeError), hot_sql.count_later(COUNT_NAMED, ["Ada"]) as answer:
        raise RuntimeError("in the block")
    assert answer.value == 1
    assert User.objects.count() == 1  # the connection is ready for the next statement


@pytest.mark.smoke
def test_a_statement_that_fails_raises_a_database_error(ada):
    with pytest.raises(DatabaseError, match="no_such_table"), \
            hot_sql.count_later("SELECT count(*) FROM no_such_table WHERE 1 = %s", [1]):
        pass
    assert User.objects.count() == 1


@postgresql_only
def test_a_failing_statement_raises_the_database_error_and_writes_nothing(ada):
    User.objects.create_user("grace@example.com", "Grace", "Hopper", password=None)
    duplicate = ('WITH changed AS (UPDATE "directory_user" SET "email" = %s'
                 ' WHERE "email" = %s RETURNING 1) SELECT count(*) FROM changed')
    with pytest.raises(IntegrityError), \
            hot_sql.count_later(duplicate, ["ada@example.com", "grace@example.com"]):
        pass
    assert User.objects.filter(email="ada@example.com").count() == 1
    assert User.objects.filter(email="grace@example.com").count() == 1


@pytest.mark.smoke
def test_inside_a_transaction_block_it_runs_before_the_block(ada):
    with transaction.atomic():
        User.objects.filter(pk=ada.pk).update(given_name="Augusta")
        with hot_sql.count_later(COUNT_NAMED, ["Augusta"]) as answer:
            assert answer.value == 1  # answered already, and in the transaction
            assert User.objects.count() == 1  # the connection is usable in the block
        transaction.set_rollback(True)
    assert User.objects.get(pk=ada.pk).given_name == "Ada"


@postgresql_only
def test_a_write_inside_a_transaction_block_rolls_back_with_it(ada):
    with transaction.atomic():
        with hot_sql.count_later(RENAME, ["Augusta", "ada@example.com"]) as answer:
            pass
        assert answer.value == 1
        transaction.set_rollback(True)
    assert User.objects.get(pk=ada.pk).given_name == "Ada"


@postgresql_only
def test_prepared_statements_survive_a_rollback(ada):
    """psycopg drops the statements it prepared at every rollback; Keystead's, prepared under
    its own names, stay (before, the next refresh failed: "prepared statement does not exist")."""
    with hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert cursor.fetchone() == (1,)
    with hot_sql.count_later(COUNT_NAMED, ["Ada"]):
        pass
    with transaction.atomic():
        User.objects.filter(pk=ada.pk).update(given_name="Augusta")
        transaction.set_rollback(True)
    with hot_sql.count_later(COUNT_NAMED, ["Ada"]) as answer:
        pass
    with hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert (answer.value, cursor.fetchone()) == (1, (1,))


@postgresql_only
def test_statements_the_server_lost_are_prepared_again(ada):
    """A pooler may reset the session (DISCARD ALL): outside a transaction the statement is
    prepared and sent again; inside one the error is raised and the next one prepares."""
    def discard():
        with connection.cursor() as cursor:
            cursor.execute("DISCARD ALL")

    with hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert cursor.fetchone() == (1,)
    discard()
    with hot_sql.count_later(COUNT_NAMED, ["Ada"]) as answer:
        pass
    assert answer.value == 1
    discard()
    with hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert cursor.fetchone() == (1,)
    discard()
    with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
        User.objects.count()  # the transaction has begun: no sending it again
        with hot_sql.execute(COUNT_NAMED, ["Ada"]):
            pass
    with transaction.atomic(), hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert cursor.fetchone() == (1,)


@postgresql_only
def test_the_first_statement_of_a_transaction_carries_the_begin(ada):
    """One round trip for BEGIN and the statement; the transaction is then open as psycopg
    would have opened it, and rolls back with the block."""
    from psycopg import pq

    with transaction.atomic():
        with hot_sql.execute(RENAME, ["Augusta", "ada@example.com"]) as cursor:
            assert cursor.fetchone() == (1,)
        status = connection.connection.pgconn.transaction_status
        assert status == pq.TransactionStatus.INTRANS
        transaction.set_rollback(True)
    assert User.objects.get(pk=ada.pk).given_name == "Ada"


@postgresql_only
def test_a_value_that_cannot_be_sent_leaves_the_connection_ready(ada):
    """The BEGIN went out, the statement's value could not: the error is raised, the block
    rolls back, and the connection answers the next statement."""
    with pytest.raises(DatabaseError, match="cannot adapt"), transaction.atomic(), \
            hot_sql.execute(COUNT_NAMED, [object()]):
        pass
    with hot_sql.execute(COUNT_NAMED, ["Ada"]) as cursor:
        assert cursor.fetchone() == (1,)
    assert User.objects.count() == 1


@postgresql_only
def test_one_lost_statement_does_not_clash_with_those_the_server_kept(ada):
    """The server dropped one prepared statement (a DEALLOCATE), not all: the connection
    forgets its names and prepares again under names never used before, which cannot
    clash with the statements the server still holds."""
    other = 'SELECT count(*) FROM "directory_user" WHERE "family_name" = %s'
    for sql, value in ((COUNT_NAMED, "Ada"), (other, "Lovelace")):
        with hot_sql.execute(sql, [value]) as cursor:
            assert cursor.fetchone() == (1,)
    name = connection.connection.__dict__["_keystead_prepared"][other]
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {name.decode()}")
    for sql, value in ((other, "Lovelace"), (COUNT_NAMED, "Ada")):
        with hot_sql.execute(sql, [value]) as cursor:
            assert cursor.fetchone() == (1,)


@postgresql_only
def test_answers_of_one_pipeline_read_in_any_order_keep_their_own_rows(ada):
    """The connection keeps one row loader; each answer sets it to its own result."""
    from keystead import pg_wire

    connection.ensure_connection()
    conn = connection.connection
    first, second = pg_wire.pipeline(conn, [
        ('SELECT "email", "date_joined" FROM "directory_user" WHERE "email" = %s',
         ["ada@example.com"]),
        ("SELECT generate_series(1, %s), now()", [3]),
    ])
    assert second.fetchone()[0] == 1
    email, joined = first.fetchone()
    assert email == "ada@example.com" and joined == User.objects.get().date_joined
    assert [row[0] for row in second.fetchall()] == [2, 3]  # read on where it was
