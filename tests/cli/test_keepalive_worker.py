"""keystead serve's gunicorn worker with HTTP keep-alive, for real: ``keystead serve`` with
one worker, as it ships, and raw sockets as clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from keystead.cli.serve import gunicorn_options, parse_bind

from .test_cli_serve import free_port, wait_for

pytestmark = pytest.mark.slow
TRIALS = 10  # times four connections are opened at once in the sharing test
KEEPALIVE_SECONDS = gunicorn_options(parse_bind("127.0.0.1:8000"), 1)["keepalive"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``keystead serve --workers 1`` on a fresh SQLite database: (port, log)."""
    with serving(tmp_path_factory.mktemp("keepalive"), workers=1) as (port, log, _):
        yield port, log


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """``keystead serve --workers 2``: (port, the server's process id)."""
    with serving(tmp_path_factory.mktemp("keepalive2"), workers=2) as (port, _, pid):
        yield port, pid


@contextmanager
def serving(tmp: Path, *, workers: int):
    env = {**os.environ, "KEYSTEAD_DATABASE_URL": f"sqlite:///{tmp / 'keystead.sqlite3'}",
           "KEYSTEAD_DATA_DIR": str(tmp / "data"), "KEYSTEAD_BASE_URL": "http://127.0.0.1:8000"}
    subprocess.run([sys.executable, "-m", "keystead", "migrate"], env=env, check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    keystead = Path(sys.executable).with_name("keystead")
    with (tmp / "serve.log").open("w") as log:
        proc = subprocess.Popen(
            [str(keystead), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        yield port, tmp / "serve.log", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def request(path: str = "/healthz", *, method: str = "GET", body: bytes = b"",
            version: str = "HTTP/1.1", extra: str = "", port: int) -> bytes:
    return (f"{method} {path} {version}\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_response(sock: socket.socket, pending: bytearray) -> tuple[bytes, bytes]:
    """One response (status line and headers, body of Content-Length) from ``sock``."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        rest += chunk
    pending[:] = rest[length:]
    return head, rest[:length]


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_one_connection_carries_many_requests(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        pending = bytearray()
        for _ in range(5):
            sock.sendall(request(port=port))
            head, body = read_response(sock, pending)
            assert head.startswith(b"HTTP/1.1 200") and b'"ok"' in body
            assert b"connection: close" not in head.lower()


def test_requests_sent_back_to_back_are_all_answered(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request(port=port) * 3)
        pending = bytearray()
        heads = [read_response(sock, pending)[0] for _ in range(3)]
    assert all(head.startswith(b"HTTP/1.1 200") for head in heads)


def test_an_unread_body_does_not_become_the_next_request(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        pending = bytearray()
        sock.sendall(request(method="POST", body=b"x" * 50_000, port=port))
        head, _ = read_response(sock, pending)
        assert head.split(b" ")[1] == b"403"  # refused for CSRF: the body is never read
        sock.sendall(request(port=port))
        assert read_response(sock, pending)[0].startswith(b"HTTP/1.1 200")


def test_connection_close_and_http_1_0_close_after_the_response(server):
    port, _ = server
    for raw in (request(extra="Connection: close\r\n", port=port),
                request(version="HTTP/1.0", port=port)):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            head, _ = read_response(sock, bytearray())
            assert b" 200 " in head.split(b"\r\n")[0]
            assert closed_by_server(sock, within=5)


def test_waiting_connections_do_not_starve_others(server):
    """One worker, three open connections taking turns: each gets every answer."""
    port, _ = server
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    try:
        pendings = [bytearray() for _ in socks]
        for _ in range(4):
            for sock, pending in zip(socks, pendings, strict=True):
                sock.sendall(request(port=port))
                assert read_response(sock, pending)[0].startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()


def test_an_idle_connection_is_closed_after_the_keepalive_time(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()  # before the server starts its clock, whatever the load
        sock.sendall(request(port=port))
        read_response(sock, bytearray())
        assert closed_by_server(sock, within=KEEPALIVE_SECONDS + 10)
        assert time.monotonic() - started >= KEEPALIVE_SECONDS


def test_a_connection_that_sends_nothing_does_not_hold_the_worker(server):
    """Browsers open connections ahead of time; one worker must still answer others."""
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as busy:
        busy.sendall(request(port=port))  # one worker, the idle connection accepted first
        assert read_response(busy, bytearray())[0].startswith(b"HTTP/1.1 200")
        idle.sendall(request(port=port))  # and the idle one is still served when it asks
        assert read_response(idle, bytearray())[0].startswith(b"HTTP/1.1 200")


def holders(server_pid: int, port: int) -> dict[int, int]:
    """Which worker process holds each connection to ``port``: client's port -> worker pid
    (from the workers' open sockets and the kernel's TCP table)."""
    workers = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    inode_to_pid = {}
    for pid in map(int, workers):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inode_to_pid[int(target[8:-1])] = pid
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(a.split(":")[1], 16) for a in fields[1:3])
        if local_port == port and int(fields[9]) in inode_to_pid:
            found[remote_port] = inode_to_pid[int(fields[9])]
    return found


@contextmanager
def busy_cores():
    """A process spinning on every core meanwhile: the machine of a benchmark, where a worker
    woken by a new connection may wait for a core."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_connections_opened_at_once_are_shared_by_the_workers(two_workers):
    """Two workers on a busy machine, four connections opened at once (as wrk or a proxy's
    pool does): each worker holds some. Before, the first worker to run took all four as
    often as not, and the other sat idle for as long as they lived. A worker delayed by
    the machine may miss its turn once."""
    port, pid = two_workers
    one_worker_took_all = 0
    with busy_cores():
        for _ in range(TRIALS):
            socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
                     for _ in range(4)]
            try:
                for sock in socks:
                    sock.sendall(request(port=port))
                for sock in socks:
                    read_response(sock, bytearray())
                owners = holders(pid, port)
                held = [owners[sock.getsockname()[1]] for sock in socks]
                one_worker_took_all += len(set(held)) == 1
            finally:
                for sock in socks:
                    sock.close()
            time.sleep(0.1)  # the workers see the closes before the next four
    assert one_worker_took_all <= 1
