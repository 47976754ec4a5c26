"""Plain SQL for hot paths, run as prepared statements on PostgreSQL.

Django sends every statement as text with the values inlined (psycopg's
client-side binding), so PostgreSQL parses and plans it again each time; that
keeps transaction-mode connection poolers working. A few statements run on
every token refresh, hundreds of times a second: for those, parsing and
planning was most of PostgreSQL's CPU. ``execute`` runs them with server-side
binding as named prepared statements (psycopg prepares each distinct
statement once per connection and keeps it), on Django's own connection and
inside Django's transaction.

``KEYSTEAD_DATABASE_PREPARED_STATEMENTS=false`` turns this off for a
transaction-mode pooler that does not keep prepared statements (PgBouncer
before 1.21, or without ``max_prepared_statements``). On SQLite it does
nothing: statements go through Django's cursor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection


@contextmanager
def execute(sql: str, params: Sequence[Any]) -> Iterator[Any]:
    """Run one statement (``%s`` placeholders); yields the cursor for its results."""
    if connection.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS:
        import psycopg

        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            yield cursor
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        yield cursor
