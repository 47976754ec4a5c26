"""gunicorn's sync worker with HTTP keep-alive: one request at a time, connections kept.

gunicorn's ``sync`` worker closes the connection after every response, and
since gunicorn 27 it closes gracefully (RFC 9112 §9.6): it half-closes and
then *waits for the client to close its side* before it takes the next
connection. Every request therefore pays for a new TCP connection on both
sides, a new HTTP parser, and a wait on the client; on a token endpoint that
answers in a millisecond or two, that was a fifth of the server's CPU per
request and most of its idle time. gunicorn's ``gthread`` worker keeps
connections alive, but hands every request to a thread pool and back, which
measured slower still for short requests.

This worker keeps what makes ``sync`` simple (one request at a time, in the
worker's only thread, no locks) and adds keep-alive with one ``selectors``
loop over the listening sockets and the connections waiting between requests:

- a response that may keep its connection (HTTP/1.1, or HTTP/1.0 asking for
  keep-alive, with a known length) leaves it open; the connection waits in
  the loop for ``keepalive`` seconds (gunicorn's setting) and is closed if no
  request comes;
- at most ``worker_connections`` connections wait per worker; beyond that, and
  when the worker is stopping or restarting (``max_requests``), responses say
  ``Connection: close``;
- a new connection waits in the loop too until its first request arrives, so
  a connection opened ahead of time (browsers do) does not hold the worker;
- a worker that already holds connections leaves a new one to the others for
  a moment (``_ACCEPT_DEFER_SECONDS``): a worker holding none is waiting on the
  listening socket and takes it at once. Without this, the first worker to
  wake took every connection a client opened at once (wrk's four, a proxy's
  pool) and the other workers sat idle for as long as those connections
  lived: a quarter to half of a two-core machine, in the sign-in benchmark;
- a request the client sent right behind the previous one (pipelining) is
  already buffered by the parser, so it is served at once rather than waited
  for;
- stopping (``SIGTERM``, ``HUP``, ``max_requests``), the worker takes no new
  connections, answers for two more seconds the requests that arrive on
  waiting ones (with ``Connection: close``: a client may have sent one as the
  worker stopped), then closes them;
- a body the application did not read is drained (bounded) before the
  connection is reused, as gunicorn's ``gthread`` worker does.

A waiting connection is served by the worker that holds it, so a slow request
(a large SCIM batch) delays the next requests on that worker's other
connections, where ``sync`` would have let another worker accept them. As
with ``sync``, a client that sends a request slowly holds the worker while it
does: put a buffering proxy in front of any server reachable from the
Internet (docs/scaling.md).
"""

from __future__ import annotations

import errno
import os
import selectors
import ssl
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gunicorn import http, sock, util
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker

_WAKE = object()  # the worker's signal pipe in the selector
_DRAIN_SECONDS = 5.0  # at most this long to read a body the application left unread
_STOP_LINGER_SECONDS = 2.0  # when stopping, requests arriving this long are still answered
# A worker holding connections waits this long before it accepts a new one, so that a worker
# holding none (woken by the same arrival) takes it. The cost: when every worker holds
# connections, a new connection is accepted this much later (a lone worker accepts at once).
_ACCEPT_DEFER_SECONDS = 0.01


@dataclass(eq=False)
class _Connection:
    sock: Any
    client: Any  # the peer's address
    server: Any  # the listener's address, as the environ needs it
    parser: Any = None
    expires: float = 0.0  # while waiting between requests


class KeepAliveWorker(SyncWorker):
    """``keystead serve``'s worker: see the module's docstring."""

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        self._waiting: dict[Any, _Connection] = {}  # socket -> connection, oldest first
        self._deferred: dict[Any, float] = {}  # listener -> when to accept from it after all
        self._selector = selectors.DefaultSelector()
        for listener in self.sockets:
            self._selector.register(listener, selectors.EVENT_READ, None)
        self._selector.register(self.PIPE[0], selectors.EVENT_READ, _WAKE)
        try:
            while self.alive:
                self.notify()
                for key, _ in self._selector.select(self._wait_seconds()):
                    if key.data is _WAKE:
                        os.read(self.PIPE[0], 1)
                    elif key.data is None:
                        self._accept_or_defer(key.fileobj)
                    else:
                        self._resume(key.data)
                self._accept_deferred()
                self._close_waiting(expired_only=True)
                if not self.is_parent_alive():
                    break
        finally:
            quitting = isinstance(sys.exc_info()[1], SystemExit)  # SIGQUIT/SIGINT: at once
            self._stop(linger=0.0 if quitting else _STOP_LINGER_SECONDS)

    def _stop(self, linger: float) -> None:
        """Stop taking connections; for ``linger`` seconds, answer requests that arrive on
        waiting connections (a client may have sent one as we stopped) with "Connection:
        close"; then close the rest."""
        self.alive = False  # every answer from now on closes its connection
        for fileobj in (*self.sockets, self.PIPE[0]):
            if fileobj not in self._deferred:
                self._selector.unregister(fileobj)
        self._deferred.clear()
        deadline = time.monotonic() + linger
        while self._waiting and (left := deadline - time.monotonic()) > 0:
            for key, _ in self._selector.select(left):
                self._resume(key.data)
        self._close_waiting(expired_only=False)
        self._selector.close()

    def _wait_seconds(self) -> float:
        """Until the heartbeat is due, or the oldest waiting connection expires."""
        limit = self.timeout or 0.5
        if self._waiting:
            oldest = next(iter(self._waiting.values()))
            limit = min(limit, max(oldest.expires - time.monotonic(), 0.0))
        if self._deferred:
            limit = min(limit, max(min(self._deferred.values()) - time.monotonic(), 0.0))
        return limit

    def _accept_or_defer(self, listener) -> None:
        """Accept now if this worker holds no connection (or is the only worker); otherwise
        look again shortly (the listener leaves the selector meanwhile), leaving the
        connection to a worker that holds none."""
        if not self._waiting or self.cfg.workers == 1:
            self._accept(listener)
            return
        self._selector.unregister(listener)
        self._deferred[listener] = time.monotonic() + _ACCEPT_DEFER_SECONDS

    def _accept_deferred(self) -> None:
        """Listeners whose moment is over: accept what no other worker took, watch again."""
        now = time.monotonic()
        for listener, due in list(self._deferred.items()):
            if due <= now:
                del self._deferred[listener]
                self._accept(listener)  # nothing waiting (another worker took it): no harm
                self._selector.register(listener, selectors.EVENT_READ, None)

    def _accept(self, listener) -> None:
        try:
            client, addr = listener.accept()
        except OSError as error:  # another worker took it, or the client gave up
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        client.setblocking(True)
        util.close_on_exec(client)
        connection = _Connection(client, addr, listener.getsockname())
        try:
            if self.cfg.is_ssl:
                connection.sock = sock.ssl_wrap_socket(client, self.cfg)
            connection.parser = http.get_parser(self.cfg, connection.sock, addr)
        except BaseException as error:  # as gunicorn's sync worker: answer it
            self.handle_error(None, connection.sock, addr, error)
            util.close(connection.sock)
            return
        # Served once its request is here: a connection opened ahead of time (browsers
        # do) must not hold the worker while it sends nothing.
        self._park(connection)

    def _resume(self, connection: _Connection) -> None:
        """A waiting connection has its next request (or has closed)."""
        self._selector.unregister(connection.sock)
        del self._waiting[connection.sock]
        self._serve(connection)

    def _serve(self, connection: _Connection) -> None:
        """Answer the connection's requests while they are already here; then keep it
        waiting for the next, or close it."""
        while self._one_request(connection):
            if not connection.parser.unreader.buf.getvalue():
                self._park(connection)
                return
        util.close_graceful(connection.sock)

    def _park(self, connection: _Connection) -> None:
        """Wait (in the loop, up to ``keepalive`` seconds) for the connection's request."""
        connection.expires = time.monotonic() + self.cfg.keepalive
        self._waiting[connection.sock] = connection
        self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _one_request(self, connection: _Connection) -> bool:
        """Read and answer one request; whether the connection may carry another.
        The errors are handled as gunicorn's sync worker handles them."""
        req = None
        self.notify()  # the heartbeat, per request: many may be served between two waits
        try:
            req = next(connection.parser)
            if not self._answer(req, connection):
                return False
            return bool(connection.parser.finish_body(
                deadline=time.monotonic() + _DRAIN_SECONDS))
        except http.errors.NoMoreData as error:
            self.log.debug("Ignored premature client disconnection. %s", error)
        except StopIteration as error:
            self.log.debug("Closing connection. %s", error)
        except ssl.SSLError as error:
            if error.args[0] != ssl.SSL_ERROR_EOF:
                self.log.debug("Error processing SSL request.")
                self.handle_error(req, connection.sock, connection.client, error)
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
            else:
                self.log.debug("Ignoring %s", errno.errorcode.get(error.errno, error.errno))
        except BaseException as error:  # a 500 for the client, logged
            self.handle_error(req, connection.sock, connection.client, error)
        return False

    def _answer(self, req, connection: _Connection) -> bool:
        """The application's response to ``req``; whether the connection stays open.

        As gunicorn's own workers do it (pre/post request hooks, access log,
        ``max_requests``), without closing a connection the response may keep.
        """
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, connection.sock, connection.client,
                                        connection.server, self.cfg)
            self.nr += 1
            if self.nr >= self.max_requests and self.alive:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if (not self.alive or not self.cfg.keepalive
                    or len(self._waiting) >= self.cfg.worker_connections - 1):
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            util.reraise(*sys.exc_info())
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # Writing a 500 after the response started would corrupt it.
                self.log.exception("Error handling request")
                util.close_graceful(connection.sock)
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")

    def _close_waiting(self, *, expired_only: bool) -> None:
        """Close waiting connections whose time is up (all of them when stopping)."""
        now = time.monotonic()
        while self._waiting:
            sock_, connection = next(iter(self._waiting.items()))
            if expired_only and connection.expires > now:
                return
            del self._waiting[sock_]
            self._selector.unregister(sock_)
            util.close(sock_)

