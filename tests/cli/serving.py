"""``keystead serve`` for real, for the tests of tests/cli: a subprocess on a free port and
a fresh SQLite database, and raw-socket HTTP/1.1 clients that see exactly what the server
does with a connection (kept, closed, reset)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from serve_process import free_port, serve_process


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read().decode()


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return get(url)
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"keystead serve exited early with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def migrated_env(tmp: Path) -> dict[str, str]:
    """The environment of a Keystead on a fresh, migrated SQLite database under ``tmp``."""
    env = {**os.environ, "KEYSTEAD_DATABASE_URL": f"sqlite:///{tmp / 'keystead.sqlite3'}",
           "KEYSTEAD_DATA_DIR": str(tmp / "data"), "KEYSTEAD_BASE_URL": "http://127.0.0.1:8000"}
    migrated = subprocess.run([sys.executable, "-m", "keystead", "migrate"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    return env


@dataclass
class Served:
    port: int
    proc: subprocess.Popen
    out_path: Path  # the server's stdout
    err_path: Path  # ... and stderr

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def log(self) -> str:
        """Everything the server wrote."""
        return self.stdout() + self.stderr()

    def wait_for_output(self, text: str, count: int = 1, seconds: float = 30) -> None:
        """Wait until stdout holds ``text`` ``count`` times. granian writes a request's
        access line just after handing its answer over, so the client can have the answer
        first; a server stopped in that instant never writes the line."""
        deadline = time.monotonic() + seconds
        while self.stdout().count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} x {count} not in:\n{self.stdout()}"
            time.sleep(0.1)


@contextmanager
def keystead_serve(tmp: Path, *, workers: int,
                   env: dict[str, str] | None = None) -> Iterator[Served]:
    """``keystead serve --workers N`` as it ships; stopped with SIGTERM (killed if it does
    not stop) and waited for, whatever the test did."""
    env = env or migrated_env(tmp)
    port = free_port()
    out_path, err_path = tmp / "serve.out", tmp / "serve.err"
    with (out_path.open("w") as out, err_path.open("w") as err,
          serve_process(f"127.0.0.1:{port}", workers, env, stdout=out, stderr=err) as proc):
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        yield Served(port, proc, out_path, err_path)


# --------------------------------------------------------------------------- raw HTTP/1.1


def request(port: int, path: str = "/healthz", *, method: str = "GET",
            headers: str = "", body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as bytes (``headers``: extra lines, each ending in CRLF)."""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_response(sock: socket.socket, pending: bytearray) -> tuple[bytes, bytes]:
    """One response (status line and headers; body of Content-Length) from ``sock``; what
    came after it stays in ``pending``."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
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


# A form body the token endpoint must read in full before it can answer (it parses
# grant_type and the client's credentials from it); the client is unknown, so the answer
# is an OAuth error, which is enough: the point is that an answer comes.
TOKEN_FORM = b"grant_type=client_credentials&client_id=nobody&client_secret=" + b"s" * 400


def send_slowly(sock: socket.socket, port: int, seconds: float) -> None:
    """Send a POST to the token endpoint whose body takes ``seconds`` to arrive."""
    sock.sendall(f"POST /oauth/token/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 f"Content-Length: {len(TOKEN_FORM)}\r\n\r\n".encode())
    pieces = 10
    step = len(TOKEN_FORM) // pieces + 1
    for i in range(0, len(TOKEN_FORM), step):
        time.sleep(seconds / pieces)
        sock.sendall(TOKEN_FORM[i:i + step])


class SlowUpload(threading.Thread):
    """A client on its own connection sending the token endpoint a body that takes
    ``seconds``: while it does, it holds whatever reads the body on the server side."""

    def __init__(self, port: int, seconds: float):
        super().__init__(daemon=True)
        self.port, self.seconds = port, seconds
        self.status_line: bytes = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
                send_slowly(sock, self.port, self.seconds)
                head, _ = read_response(sock, bytearray())
                self.status_line = head.split(b"\r\n")[0]
        except BaseException as error:  # reported by the test, in its own thread
            self.error = error
