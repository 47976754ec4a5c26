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
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections


@contextmanager
def execute(sql: str, params: Sequence[Any]) -> Iterator[Any]:
    """Run one statement (``%s`` placeholders); yields the cursor for its results."""
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per use
    if db.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS:
        db.ensure_connection()
        with db.wrap_database_errors:
            cursor = _cursor_of(db)
            cursor.execute(sql, params, prepare=True)
            yield cursor
        return
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        yield cursor


def _cursor_of(db) -> Any:
    """One psycopg cursor per database connection, kept for the next statement: these
    statements run one after another in a worker, and opening a cursor for each was a
    tenth of a statement's client-side cost. A new connection gets a new cursor."""
    kept = getattr(db, "_keystead_hot_cursor", None)
    if kept is not None and kept.connection is db.connection and not kept.closed:
        return kept
    import psycopg

    db._keystead_hot_cursor = psycopg.Cursor(db.connection)
    return db._keystead_hot_cursor


@cache
def table(model) -> str:
    """The model's table name, quoted for this database."""
    return connection.ops.quote_name(model._meta.db_table)


@cache
def column(model, field: str) -> str:
    """A field's column name, quoted for this database."""
    return connection.ops.quote_name(model._meta.get_field(field).column)


# Field types whose Python values need the backend's adaptation (datetimes with or
# without a time zone, UUIDs as text or native, JSON, inet); the rest go as they are.
_ADAPTED = {"DateTimeField", "UUIDField", "JSONField", "GenericIPAddressField"}


@cache
def _insert_sql(model, names: tuple[str, ...]) -> str:
    columns = ", ".join(column(model, name) for name in names)
    marks = ", ".join(["%s"] * len(names))
    return (f"INSERT INTO {table(model)} ({columns})"  # noqa: S608 (model names)
            f" VALUES ({marks}) RETURNING id")


@cache
def _adapters(model, names: tuple[str, ...]) -> tuple[Any, ...]:
    """Per name, the field whose values need adapting, or None.

    On PostgreSQL a time-zone-aware datetime goes as it is (psycopg sends it as
    ``timestamptz``; Django's adaptation would return it unchanged, at some cost): its
    field is marked ``_AWARE_AS_IS`` and only a naive value is adapted.
    """
    postgresql = connection.vendor == "postgresql"
    found = []
    for field in (model._meta.get_field(name) for name in names):
        kind = field.get_internal_type()
        if kind not in _ADAPTED:
            found.append(None)
        elif postgresql and kind == "DateTimeField":
            found.append((_AWARE_AS_IS, field))
        else:
            found.append(field)
    return tuple(found)


_AWARE_AS_IS = object()


def db_values(model, names: tuple[str, ...], values: Sequence[Any]) -> list[Any]:
    """``values`` of the fields ``names`` as the database takes them in a plain statement."""
    db = connections[DEFAULT_DB_ALIAS]
    adapted = []
    for field, value in zip(_adapters(model, names), values, strict=True):
        if field is None or value is None:
            adapted.append(value)
        elif isinstance(field, tuple):  # (_AWARE_AS_IS, datetime field)
            aware = getattr(value, "tzinfo", None) is not None
            adapted.append(value if aware else field[1].get_db_prep_save(value, db))
        else:
            adapted.append(field.get_db_prep_save(value, db))
    return adapted


def db_value(model, name: str, value: Any) -> Any:
    """``value`` of field ``name`` as the database takes it in a plain statement."""
    return db_values(model, (name,), (value,))[0]


def insert(model, values: dict[str, Any]) -> int:
    """One ``INSERT`` of a row of ``model`` (fields by name, ``fk`` for ``fk_id``); its id.

    No model instance, no signals, no defaults: the caller passes every column.
    """
    names = tuple(values)
    params = db_values(model, names, list(values.values()))
    with execute(_insert_sql(model, names), params) as cursor:
        return cursor.fetchone()[0]


@cache
def _insert_part_sql(model, alias: str, names: tuple[str, ...],
                     references: tuple[tuple[str, str], ...], source: str) -> str:
    """``alias AS (INSERT INTO model (names) SELECT ... FROM source RETURNING id)``.

    A name in ``references`` takes the SQL given for it in the row (another part's id);
    every other value is a bound parameter, cast to its column's type (a parameter in a
    SELECT list has no column to take its type from).
    """
    values, sql_for = [], dict(references)
    for name in names:
        if name in sql_for:
            values.append(sql_for[name])
        else:
            values.append(f"CAST(%s AS {model._meta.get_field(name).db_type(connection)})")
    columns = ", ".join(column(model, name) for name in names)
    return (f"{alias} AS (INSERT INTO {table(model)} ({columns})"  # noqa: S608
            f" SELECT {', '.join(values)} FROM {source} RETURNING id)")


def insert_part(model, alias: str, row: dict[str, Any], source: str) -> tuple[str, list]:
    """PostgreSQL: one data-modifying ``WITH`` part, ``alias AS (INSERT … SELECT … FROM
    source RETURNING id)``, inserting ``row`` (values by field name, or ``Ref`` to another
    part's id), and its parameters. Selecting from ``source`` makes the insert happen
    only if that part produced a row."""
    references = {name: value.text for name, value in row.items() if isinstance(value, Ref)}
    sql = _insert_part_sql(model, alias, tuple(row), tuple(references.items()), source)
    bound = tuple(name for name in row if name not in references)
    return sql, db_values(model, bound, [row[name] for name in bound])


@dataclass(frozen=True)
class Ref:
    """SQL standing for a value in ``insert_part``: another part's id, ``(SELECT id FROM x)``."""

    text: str
