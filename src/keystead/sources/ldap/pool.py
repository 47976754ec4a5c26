"""A small pool of service-account connections, one per source, per process.

Sign-in searches the directory for the person on every attempt; opening a
connection (TCP, TLS handshake, service bind) costs more than the search,
so searches reuse connections bound as the service account.

* Bounded: at most ``POOL_SIZE`` connections per source and process; a
  caller waits up to the source's operation timeout for a free one.
* Thread-safe: a connection is lent to one thread at a time.
* A connection is dropped after any error that may have changed its state
  (timeouts, lost connections, a refused bind); answers about the request
  itself (no such entry) keep it, so an unknown name costs no new handshake.
* Dead connections are replaced: an operation that fails with
  ``SERVER_DOWN`` (server restarted, idle connection cut by a firewall) is
  retried once on a fresh connection, and the dead one is dropped.
* A change of settings drops the old connections: the pool is keyed by the
  source's ``updated_at`` (and the process id, so a forked worker never
  shares a parent's sockets).

People's own binds never use these connections. A user bind changes the
connection's identity; putting it back would need a rebind as the service
account after every sign-in, and a failed rebind would leave a pooled
connection bound as a person (or anonymous). Sign-in therefore binds on a
separate, short-lived connection that is closed straight after.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

import ldap

from keystead.sources.ldap.connection import (
    ConnectionSettings,
    StepFailed,
    open_connection,
    service_bind,
)

POOL_SIZE = 4
T = TypeVar("T")
#: Errors after which a connection is still bound as the service account and usable.
_HARMLESS = (StepFailed, ldap.NO_SUCH_OBJECT, ldap.FILTER_ERROR, ldap.INVALID_DN_SYNTAX,
             ldap.SIZELIMIT_EXCEEDED, ldap.ADMINLIMIT_EXCEEDED, ldap.NO_SUCH_ATTRIBUTE,
             ldap.UNDEFINED_TYPE, ldap.INSUFFICIENT_ACCESS)


class PoolExhausted(ldap.TIMEOUT):
    """No connection became free within the operation timeout."""


class Pool:
    """Connections bound as one source's service account."""

    def __init__(self, settings: ConnectionSettings, size: int = POOL_SIZE) -> None:
        self.settings = settings
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[ldap.ldapobject.LDAPObject] = []
        self._lock = threading.Lock()
        self._closed = False

    def _new(self) -> ldap.ldapobject.LDAPObject:
        conn = open_connection(self.settings)
        try:
            service_bind(self.settings, conn)
        except BaseException:
            with suppress(ldap.LDAPError):
                conn.unbind_ext_s()
            raise
        return conn

    @contextmanager
    def _borrowed(self) -> Iterator[ldap.ldapobject.LDAPObject]:
        if not self._slots.acquire(timeout=self.settings.operation_timeout):
            raise PoolExhausted({"desc": "no free directory connection"})
        conn = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._new()
            yield conn
        except BaseException as exc:
            # An answer about the request (no such entry, a bad filter, a person not found)
            # leaves the connection as it was; anything else leaves it in doubt.
            if conn is not None and not isinstance(exc, _HARMLESS):
                _close(conn)
                conn = None
            raise
        finally:
            if conn is not None:
                with self._lock:
                    if self._closed:
                        _close(conn)
                    else:
                        self._idle.append(conn)
            self._slots.release()

    def run(self, operation: Callable[[ldap.ldapobject.LDAPObject], T]) -> T:
        """``operation(conn)`` on a pooled connection; once more on a fresh one if the
        connection turns out to be dead."""
        try:
            with self._borrowed() as conn:
                return operation(conn)
        except ldap.SERVER_DOWN:
            self.drop_idle()  # the others were very likely cut at the same time
            with self._borrowed() as conn:
                return operation(conn)

    def drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.drop_idle()

    @property
    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)


def _close(conn: ldap.ldapobject.LDAPObject) -> None:
    with suppress(ldap.LDAPError):
        conn.unbind_ext_s()


_pools: dict[int, tuple[tuple, Pool]] = {}
_pools_lock = threading.Lock()


def pool_for(source) -> Pool:
    """The pool of ``source`` (an ``LdapSource``) as its settings are now."""
    stamp = (os.getpid(), source.updated_at)
    with _pools_lock:
        known = _pools.get(source.pk)
        if known is not None and known[0] == stamp:
            return known[1]

        pool = Pool(source.connection_settings())
        _pools[source.pk] = (stamp, pool)
    if known is not None and known[0][0] == stamp[0]:  # a forked child leaves the parent's
        known[1].close()
    return pool


def close_all() -> None:
    """Drop every pooled connection (tests, and a process that is shutting down)."""
    with _pools_lock:
        pools = [pool for _, pool in _pools.values()]
        _pools.clear()
    for pool in pools:
        pool.close()
