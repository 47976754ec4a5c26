"""What ``keystead serve`` does with connections, for real: the command as it ships, with one
worker process (so a few clients can keep all of it busy), and raw sockets as clients."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from keystead.cli.serve import KEEPALIVE_SECONDS, THREADS

from .serving import (
    SlowUpload,
    closed_by_server,
    keystead_serve,
    read_response,
    request,
    send_slowly,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with keystead_serve(tmp_path_factory.mktemp("serve"), workers=1) as served:
        yield served


def status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def test_one_connection_carries_many_requests(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        pending = bytearray()
        for _ in range(5):
            sock.sendall(request(server.port))
            head, body = read_response(sock, pending)
            assert status(head) == 200 and b'"ok"' in body
            assert b"connection: close" not in head.lower()


def test_an_idle_connection_is_closed_after_the_keepalive_time(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request(server.port))
        read_response(sock, bytearray())
        assert not closed_by_server(sock, within=1), "closed at once: no keep-alive"
        assert closed_by_server(sock, within=KEEPALIVE_SECONDS + 10), "still open"


def test_a_slow_upload_on_a_kept_alive_connection_is_answered_while_the_worker_is_busy(server):
    """A connection kept alive after its first answer sends its next request (a body that
    takes a while) while other clients hold every thread of the only worker for longer than
    the keep-alive time. Keystead's former worker of its own closed such a connection, with
    the request unread, once the worker was free again: the client saw a reset."""
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=120) as kept:
        pending = bytearray()
        kept.sendall(request(port))
        assert status(read_response(kept, pending)[0]) == 200
        others = [SlowUpload(port, seconds=KEEPALIVE_SECONDS + 3) for _ in range(THREADS)]
        for other in others:
            other.start()
        time.sleep(1)  # their requests have started: every thread is reading a body
        send_slowly(kept, port, seconds=2)
        try:
            head, _ = read_response(kept, pending)
        except ConnectionResetError:
            pytest.fail("the kept-alive connection was reset instead of answered")
        assert status(head) in (400, 401)  # the token endpoint's answer to an unknown client
        for other in others:
            other.join(timeout=120)
            assert other.error is None, other.error
            assert status(other.status_line + b" ") in (400, 401)


def test_sigterm_lets_a_request_in_flight_finish(tmp_path):
    with keystead_serve(tmp_path, workers=1) as served:
        upload = SlowUpload(served.port, seconds=3)
        upload.start()
        time.sleep(1)  # the request is in flight: its body is still arriving
        served.proc.send_signal(signal.SIGTERM)
        upload.join(timeout=120)
        assert upload.error is None, upload.error
        assert status(upload.status_line + b" ") in (400, 401)
        assert served.proc.wait(timeout=60) == 0
        with pytest.raises(ConnectionRefusedError):  # nothing listens any more
            socket.create_connection(("127.0.0.1", served.port), timeout=5).close()
