"""Statements sent to PostgreSQL through libpq itself, on the psycopg connection Django holds.

psycopg's cursors wait for each statement's answer before the next can be
sent, open a transaction with a ``BEGIN`` of its own (a round trip) and, after
a ``ROLLBACK``, drop every statement they prepared. The hot paths
(``hot_sql``) need what libpq offers underneath: a statement sent now and
answered later, and several statements in one round trip (pipeline mode, so a
``BEGIN`` travels with the first statement and a ``COMMIT`` with the last).

Statements are prepared under names of ours, once per connection, and kept: a
rollback does not drop them (psycopg's own prepared statements are not used,
so psycopg has nothing to deallocate). If the server lost them anyway (a
``DISCARD ALL`` by a pooler), the error names it and the connection forgets
them, so the next statement prepares again; a statement that failed that way
outside a transaction is simply sent again.

Values are sent as text and PostgreSQL infers each parameter's type from where
it stands, as it does for psycopg's own text parameters; answers are loaded
with the connection's own adapters, so rows look as a cursor gives them.
Waiting happens in ``select``, which lets other threads run (libpq's own
blocking wait would hold Python's lock).
"""

from __future__ import annotations

import itertools
import select
from collections.abc import Sequence
from functools import cache
from typing import Any

from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

BEGIN, COMMIT = b"BEGIN", b"COMMIT"
# This transaction's COMMIT does not wait for the write-ahead log's flush to disk.
ASYNCHRONOUS_COMMIT = b"SET LOCAL synchronous_commit TO OFF"
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_LOST_STATEMENT = "26000"  # invalid_sql_statement_name: a prepared statement the server lost

_names = itertools.count()  # prepared statements' names, new for every preparation

# (sql, params) or (command, None): one statement of a pipeline.
Statement = tuple[str | bytes, Sequence[Any] | None]


class Answer:
    """A statement's answer, with what the hot paths use of a cursor: ``fetchone``,
    ``fetchall`` and ``rowcount``."""

    def __init__(self, conn: Any, result: Any) -> None:
        self._conn = conn
        self._result = result
        self._next = 0
        tuples = result.command_tuples
        self.rowcount = tuples if tuples is not None else -1

    def _loader(self) -> Any:
        """The connection's loader, set to this answer (most answers, a COMMIT or a write,
        are never read)."""
        loader = _transformer(self._conn, "load")
        if loader.pgresult is not self._result:
            loader.set_pgresult(self._result)
        return loader

    def fetchone(self) -> tuple | None:
        if self._next >= self._result.ntuples:
            return None
        self._next += 1
        return self._loader().load_row(self._next - 1, tuple)

    def fetchall(self) -> list[tuple]:
        loader = self._loader()
        rows = [loader.load_row(i, tuple) for i in range(self._next, self._result.ntuples)]
        self._next = self._result.ntuples
        return rows


def _transformer(conn: Any, role: str) -> Any:
    """One psycopg ``Transformer`` per connection for each role ("dump", "load"), made
    with the connection's adapters (Django's among them) and kept: making one copies the
    adapters, which cost more than dumping a statement's values or loading its row."""
    kept = conn.__dict__.setdefault("_keystead_transformers", {})
    found = kept.get(role)
    if found is None:
        found = kept[role] = Transformer.from_context(conn)
    return found


def would_begin_first(conn: Any) -> bool:
    """Whether psycopg would open a transaction (a plain ``BEGIN``, its own round trip)
    before the next statement: an atomic block has started and nothing has run in it."""
    return (not conn.autocommit and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
            and conn.isolation_level is None and conn.read_only is None
            and conn.deferrable is None)


def run(conn: Any, sql: str, params: Sequence[Any], *, prepared: bool) -> Answer:
    """One statement, answered."""
    send(conn, sql, params, prepared=prepared)
    return answer(conn, resend=(sql, params, prepared))


def send(conn: Any, sql: str, params: Sequence[Any], *, prepared: bool) -> None:
    """Send one statement without waiting; ``answer`` reads what it answered. Nothing else
    may use the connection in between (libpq refuses: the mistake fails loudly)."""
    _put(conn, sql, params, prepared=prepared)
    _flush(conn.pgconn)


def answer(conn: Any, *, resend: tuple[str, Sequence[Any], bool] | None = None) -> Answer:
    """The answer of the statement ``send`` sent. With ``resend`` (what was sent), a statement
    the server had lost the preparation of is prepared and sent again, once, when nothing
    else was in its transaction."""
    results = []
    while (result := _next_result(conn.pgconn)) is not None:
        results.append(result)
    failed = next((r for r in results if r.status not in _OK), None)
    if failed is not None:
        if (resend is not None and _lost(conn, failed)
                and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE):
            sql, params, prepared = resend
            return run(conn, sql, params, prepared=prepared)
        raise _error(conn, failed)
    return Answer(conn, results[0])


def pipeline(conn: Any, statements: list[Statement]) -> list[Answer]:
    """``statements`` in one round trip (prepared ones with their values, commands without);
    their answers. The first error is raised; the statements after it did not run."""
    for sql, params in statements:
        if params is not None:
            prepared_name(conn, sql)  # preparing is a round trip of its own, before
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    synced = False
    try:
        for sql, params in statements:
            _put(conn, sql, params, prepared=True)
        pgconn.pipeline_sync()
        synced = True
        _flush(pgconn)
        results = []
        for _ in statements:
            results.append(_next_result(pgconn))
            _next_result(pgconn)  # the end of that statement's answers
        _next_result(pgconn)  # the pipeline's sync point
    except Exception:
        # A value that could not be sent (or a lost connection): what was queued is run
        # and its answers read, so the connection is left ready (in a transaction the
        # atomic block rolls back).
        if pgconn.status == pq.ConnStatus.OK:
            if not synced:
                pgconn.pipeline_sync()
                _flush(pgconn)
            while (result := _next_result(pgconn)) is None or (
                    result.status != pq.ExecStatus.PIPELINE_SYNC):
                pass
        raise
    finally:
        pgconn.exit_pipeline_mode()
    for result in results:
        if result.status not in _OK and result.status != pq.ExecStatus.PIPELINE_ABORTED:
            _lost(conn, result)
            raise _error(conn, result)
    return [Answer(conn, result) for result in results]


def prepared_name(conn: Any, sql: str | bytes) -> bytes:
    """The name ``sql`` is prepared under on this connection (prepared on first use).

    Names are never used twice in a process: after a lost statement the connection
    forgets all of its names, and the server may still hold the others."""
    names = conn.__dict__.setdefault("_keystead_prepared", {})
    name = names.get(sql)
    if name is None:
        name = f"keystead_{next(_names)}".encode()
        result = conn.pgconn.prepare(name, numbered(sql))
        if result.status not in _OK:
            raise _error(conn, result)
        names[sql] = name
    return name


def _lost(conn: Any, result: Any) -> bool:
    """Whether the server had lost a prepared statement; if so, forget them all."""
    if result.error_field(pq.DiagnosticField.SQLSTATE) != _LOST_STATEMENT.encode():
        return False
    conn.__dict__.pop("_keystead_prepared", None)
    return True


def _put(conn: Any, sql: str | bytes, params: Sequence[Any] | None, *, prepared: bool) -> None:
    pgconn = conn.pgconn
    if params is None:
        pgconn.send_query_params(sql, None)
        return
    values = _transformer(conn, "dump").dump_sequence(params, [PyFormat.TEXT] * len(params))
    if prepared:
        pgconn.send_query_prepared(prepared_name(conn, sql), values)
    else:
        pgconn.send_query_params(numbered(sql), values)


def _flush(pgconn: Any) -> None:
    while pgconn.flush():  # the connection is non-blocking: the rest once the socket has room
        select.select([], [pgconn.socket], [])


def _next_result(pgconn: Any) -> Any:
    """libpq's next result, waited for in ``select`` (libpq's own wait would block the
    other threads of the process)."""
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _error(conn: Any, result: Any) -> Exception:
    return errors.error_from_result(result, encoding=conn.info.encoding)


@cache
def numbered(sql: str | bytes) -> bytes:
    """``%s`` placeholders as PostgreSQL's ``$1, $2, …``."""
    text = sql.decode() if isinstance(sql, bytes) else sql
    pieces = text.split("%s")
    joined = pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], 1))
    return joined.replace("%%", "%").encode()
