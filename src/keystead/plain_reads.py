"""Model instances from one plain, prepared SELECT, for the few reads of every sign-in.

The ORM builds each statement anew: for the password sign-in's reads (the
account, the installation's policy, the group policies) that building cost
more CPU than the reads themselves, and PostgreSQL planned each statement
again (the group policies' join took longer to plan than to run). Here the
statement is written once per process and runs as a prepared statement
(``keystead.hot_sql``); the rows become ordinary model instances through
``Model.from_db``, as the ORM makes them.

Only on PostgreSQL: there psycopg returns every column type these models use
as the ORM would (Django's connection carries the time-zone-aware loaders).
SQLite needs Django's converters (booleans, datetimes), so callers use the ORM
there (``available()``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model

from keystead import hot_sql


def available() -> bool:
    return connection.vendor == "postgresql"


@cache
def columns(model: type[Model], skip: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...]]:
    """``p."column", ...`` for every concrete field of ``model`` but ``skip`` (those are
    left deferred: loaded if ever used), and the matching attribute names."""
    fields = [f for f in model._meta.concrete_fields if f.name not in skip]
    return (", ".join(f"p.{hot_sql.column(model, f.name)}" for f in fields),
            tuple(f.attname for f in fields))


def instances(model: type[Model], sql: str, params: list[Any],
              attnames: tuple[str, ...]) -> list[Any]:
    """Run ``sql`` (``%s`` placeholders) and make a ``model`` instance of each row."""
    with hot_sql.execute(sql, params) as cursor:
        rows = cursor.fetchall()
    return [model.from_db(connection.alias, attnames, row) for row in rows]
