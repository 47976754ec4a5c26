"""Plain SQL for hot paths, run as prepared statements on PostgreSQL.

Django sends every statement as text with the values inlined (psycopg's
client-side binding), so PostgreSQL parses and plans it again each time; that
keeps transaction-mode connection poolers working. A few statements run on
every token refresh, hundreds of times a second: for those, parsing and
planning was most of PostgreSQL's CPU. ``execute`` runs them with server-side
binding as named prepared statements (``pg_wire`` prepares each distinct
statement once per connection and keeps it), on Django's own connection and
inside Django's transaction; the first statement of a transaction carries its
``BEGIN`` (one round trip, where psycopg would make two).

Inside ``transaction_writes_at_commit`` the statements given to
``write_at_commit`` are held back and sent together, as one statement, with
the COMMIT: a sign-in's three writes (audit event, ``last_login``, the new
session) and its commit cost one round trip instead of four. ``count_later``
sends a statement and reads its answer after a block of work.

A block whose writes are all short-lived records (a sign-in's session, its
audit event, ``last_login``) may ask, with ``commit_asynchronously``, for a
COMMIT that does not wait for the write-ahead log to reach the disk
(docs/logon-policy.md, "Durability of sign-ins").

``KEYSTEAD_DATABASE_PREPARED_STATEMENTS=false`` turns this off for a
transaction-mode pooler that does not keep prepared statements (PgBouncer
before 1.21, or without ``max_prepared_statements``). On SQLite it does
nothing: statements go through Django's cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from keystead import pg_wire


def _prepared(db) -> bool:
    return db.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS


@contextmanager
def execute(sql: str, params: Sequence[Any]) -> Iterator[Any]:
    """Run one statement (``%s`` placeholders); yields what it answered, read as from a
    cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per use
    if _prepared(db):
        db.ensure_connection()
        conn = db.connection
        with db.wrap_database_errors:
            if pg_wire.would_begin_first(conn):
                # psycopg would send BEGIN and wait for it: it goes with the statement.
                answered = pg_wire.pipeline(conn, [(pg_wire.BEGIN, None), (sql, params)])[-1]
            else:
                answered = pg_wire.run(conn, sql, params, prepared=True)
        yield answered
        return
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        yield cursor


@dataclass
class Count:
    """The integer answer of a statement sent by ``count_later``, known once its block ends."""

    value: int | None = None


@contextmanager
def count_later(sql: str, params: Sequence[Any]) -> Iterator[Count]:
    """Send a statement whose answer is one integer now; read the answer when the block ends.

    The block runs while PostgreSQL executes and commits the statement: a refresh
    signs its ID token (a third of a millisecond of CPU) in the time it would
    otherwise have spent waiting for the round trip and the commit's flush to
    disk. Nothing in the block may use the database connection (libpq refuses a
    second statement while one is in flight, so a mistake fails loudly). The
    answer is read even if the block raises, leaving the connection ready.

    Inside a transaction block (psycopg would open it with a ``BEGIN`` of its own
    first) and on SQLite the statement simply runs before the block.
    """
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    count = Count()
    if db.vendor != "postgresql" or not db.connection.autocommit:
        with execute(sql, params) as cursor:
            count.value = cursor.fetchone()[0]
        yield count
        return
    conn, prepared = db.connection, settings.DATABASE_PREPARED_STATEMENTS
    with db.wrap_database_errors:
        pg_wire.send(conn, sql, params, prepared=prepared)
    try:
        yield count
    finally:
        with db.wrap_database_errors:
            count.value = pg_wire.answer(conn, resend=(sql, params, prepared)).fetchone()[0]


@dataclass
class _Block:
    """An open ``transaction_writes_at_commit`` block: its held writes, the savepoint depth
    they belong to, and whether its COMMIT may skip waiting for the disk."""

    held: list[_HeldWrite]
    depth: int
    asynchronous: bool = False


@dataclass
class _HeldWrite:
    sql: str  # one INSERT, UPDATE or DELETE without RETURNING
    params: Callable[[], Sequence[Any]]  # read when the write is sent
    then: Callable[[int], None] | None  # given the number of rows it wrote, once it has run


@contextmanager
def transaction_writes_at_commit() -> Iterator[None]:
    """``transaction.atomic()`` whose ``write_at_commit`` statements are sent together, as
    one statement, just before its COMMIT.

    On PostgreSQL the held writes become the data-modifying ``WITH`` parts of one
    statement: one round trip and one statement for PostgreSQL to run instead of
    one per write, inside the same transaction as everything else in the block.
    Statements run through anything else inside the block (the ORM, ``execute``)
    run at once, as usual, so they come before the held ones. The parts of one
    statement see the same snapshot and not each other's changes: the held writes
    must not touch the same row twice. Nested inside another atomic block, or on
    SQLite, this is plain ``transaction.atomic()`` and nothing is held.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not _prepared(db) or db.in_atomic_block:
        with transaction.atomic():
            yield
        return
    with transaction.atomic():
        block = _Block([], len(db.savepoint_ids))
        db._keystead_held_writes = block
        try:
            yield
        finally:
            db._keystead_held_writes = None
        if block.held and not db.needs_rollback:
            _send_together(block.held, asynchronous=block.asynchronous)


def commit_asynchronously() -> None:
    """Let the enclosing ``transaction_writes_at_commit`` block commit without waiting for
    PostgreSQL to flush the write-ahead log to disk (``SET LOCAL synchronous_commit TO
    OFF``); outside one, and on SQLite, nothing changes.

    Only for a block whose every write is a short-lived record that a crash of the
    database server may lose without losing anything else: a successful password step.
    The commit stays atomic and visible at once; what is given up, and why nothing
    durable can follow a lost sign-in: docs/logon-policy.md, "Durability of sign-ins".
    """
    block = getattr(connections[DEFAULT_DB_ALIAS], "_keystead_held_writes", None)
    if block is not None:
        block.asynchronous = True


def write_at_commit(sql: str, params: Sequence[Any] | Callable[[], Sequence[Any]], *,
                    then: Callable[[int], None] | None = None) -> None:
    """A write (``sql`` without ``RETURNING``) whose outcome the caller need not see yet.

    Directly inside ``transaction_writes_at_commit`` it is held and sent with the
    block's other held writes before the COMMIT; ``params`` may be a function,
    called then (for values still changing until then, such as a session's data),
    and ``then`` is called with the number of rows the write wrote. Anywhere else
    it runs at once (``then`` right after).
    """
    values = params if callable(params) else (lambda: params)
    held = _held_writes()
    if held is not None:
        held.append(_HeldWrite(sql, values, then))
        return
    with execute(sql, values()) as cursor:
        if then is not None:
            then(cursor.rowcount)


def holding_writes() -> bool:
    """Whether ``write_at_commit`` would hold a statement now (rather than run it)."""
    return _held_writes() is not None


def in_writes_at_commit_block() -> bool:
    """Whether a ``transaction_writes_at_commit`` block is open (its held writes, if any,
    not sent yet), at whatever savepoint depth."""
    return getattr(connections[DEFAULT_DB_ALIAS], "_keystead_held_writes", None) is not None


def _held_writes() -> list[_HeldWrite] | None:
    """Where ``write_at_commit`` holds its statements now, or None: run them at once."""
    db = connections[DEFAULT_DB_ALIAS]
    block = getattr(db, "_keystead_held_writes", None)
    if block is not None and db.in_atomic_block and len(db.savepoint_ids) == block.depth:
        return block.held
    return None


def _send_together(held: list[_HeldWrite], *, asynchronous: bool = False) -> None:
    """The held writes as one statement, ``WITH w0 AS (… RETURNING 1), w1 AS (…) SELECT
    (SELECT count(*) FROM w0), …`` (every part runs, and the counts say what each wrote),
    sent with the COMMIT in one round trip; the enclosing atomic block then finds the
    transaction committed. Nothing run in the block yet: the statement alone, atomic by
    itself (and committed as usual: ``asynchronous`` needs the transaction open)."""
    params: list[Any] = []
    for write in held:
        params += write.params()
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    conn = db.connection
    statement = (_together_sql(tuple(write.sql for write in held)), params)
    opened = not pg_wire.would_begin_first(conn)
    before = [(pg_wire.ASYNCHRONOUS_COMMIT, None)] if opened and asynchronous else []
    after = [(pg_wire.COMMIT, None)] if opened else []
    with db.wrap_database_errors:
        answers = pg_wire.pipeline(conn, [*before, statement, *after])
    counts = answers[len(before)].fetchone()
    for write, count in zip(held, counts, strict=True):
        if write.then is not None:
            write.then(count)


@cache
def _together_sql(statements: tuple[str, ...]) -> str:
    parts = ", ".join(f"w{i} AS ({sql} RETURNING 1)" for i, sql in enumerate(statements))
    counts = ", ".join(f"(SELECT count(*) FROM w{i})"  # noqa: S608 (our own part names)
                       for i in range(len(statements)))
    return f"WITH {parts} SELECT {counts}"


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
def _insert_sql(model, names: tuple[str, ...], *, returning: bool = True) -> str:
    columns = ", ".join(column(model, name) for name in names)
    marks = ", ".join(["%s"] * len(names))
    return (f"INSERT INTO {table(model)} ({columns})"  # noqa: S608 (model names)
            f" VALUES ({marks})" + (" RETURNING id" if returning else ""))


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


def insert_at_commit(model, values: dict[str, Any]) -> int | None:
    """``insert``, held to go with the commit when it can be (``write_at_commit``): then
    its id is not known, and None is returned."""
    if not holding_writes():
        return insert(model, values)
    names = tuple(values)
    write_at_commit(_insert_sql(model, names, returning=False),
                    db_values(model, names, list(values.values())))
    return None


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
