"""Starting and stopping a real ``keystead serve`` subprocess, shared by the tests that need
one (tests/cli/serving.py on a fresh SQLite database, tests/login/helpers_live.py on the
PostgreSQL test database). bench/common.py keeps its own copy: bench/ cannot import tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

KEYSTEAD = Path(sys.executable).with_name("keystead")


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen, seconds: float = 60) -> None:
    """SIGTERM (the graceful stop), killed if still running after ``seconds``; always
    waited for, so no worker outlives the test (or keeps a connection to its database)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve_process(bind: str, workers: int, env: dict[str, str], *, stdout: IO,
                  stderr: IO | int, stop_seconds: float = 60) -> Iterator[subprocess.Popen]:
    """``keystead serve --bind BIND --workers N`` as it ships, stopped when the block ends."""
    proc = subprocess.Popen([str(KEYSTEAD), "serve", "--bind", bind, "--workers", str(workers)],
                            env=env, stdout=stdout, stderr=stderr)
    try:
        yield proc
    finally:
        stop(proc, stop_seconds)
