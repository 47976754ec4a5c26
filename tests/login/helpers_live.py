"""A real ``keystead serve`` (several worker processes) on the test database, for tests.

Used by tests that must prove behaviour across processes: the server runs as a
subprocess on a free port, talks to the very PostgreSQL test database the test
process uses (its name differs per xdist worker, so it is read at run time),
and is always stopped and waited for when the ``with`` block ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from serve_process import free_port, serve_process

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def database_url(settings_dict: dict[str, Any]) -> str:
    """``postgres://`` URL of the database Django is connected to (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def server_env(db_url: str, data_dir: Path, base_url: str) -> dict[str, str]:
    """The environment of a server subprocess: our test database, a private data dir."""
    return {
        **os.environ,
        "KEYSTEAD_DATABASE_URL": db_url,
        "KEYSTEAD_DATA_DIR": str(data_dir),
        "KEYSTEAD_SECRET_KEY": "test-only-secret-key-for-the-live-server-0123456789",
        "KEYSTEAD_BASE_URL": base_url,
        "KEYSTEAD_DEBUG": "false",
    }


@dataclass(frozen=True)
class LiveServer:
    base: str  # http://127.0.0.1:PORT
    log_path: Path  # the server's stdout and stderr (access log, console mail)


@contextmanager
def live_keystead(db_url: str, tmp_path: Path, *, workers: int = 4,
                  env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Run ``keystead serve --workers N`` on a free port (``env`` added to its environment);
    yield where it listens.

    The subprocess is stopped with SIGTERM (the graceful stop) and
    waited for in every case, killed if it does not stop, so no worker keeps
    a connection to the test database when pytest-django drops it.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with (log_path.open("w") as log,
          serve_process(f"127.0.0.1:{port}", workers,
                        {**server_env(db_url, tmp_path / "data", base), **(env or {})},
                        stdout=log, stderr=subprocess.STDOUT, stop_seconds=30) as proc):
        _wait_until_serving(base, proc, log_path)
        yield LiveServer(base, log_path)


def _wait_until_serving(base: str, proc: subprocess.Popen, log_path: Path,
                        seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(
                f"keystead serve exited with status {proc.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"keystead serve did not answer in {seconds}s")
        time.sleep(0.2)


def csrf_token(client: httpx.Client, base: str) -> str:
    """GET the sign-in page: sets the CSRF cookie on ``client`` and returns the form token."""
    page = client.get(f"{base}/login/")
    page.raise_for_status()
    match = CSRF_INPUT.search(page.text)
    if match is None:
        raise AssertionError("the sign-in page has no csrfmiddlewaretoken input")
    return match.group(1)


def post_sign_in(client: httpx.Client, base: str, token: str, email: str,
                 password: str) -> httpx.Response:
    """POST the sign-in form as a browser would (CSRF cookie + token, Referer)."""
    return client.post(
        f"{base}/login/",
        data={"csrfmiddlewaretoken": token, "username": email, "password": password,
              "next": ""},
        headers={"Referer": f"{base}/login/"},
    )
