"""A reset link's path is a credential: no log line may show it, gunicorn's access log included."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from keystead.logs import redact_text


def test_redaction_hides_a_reset_link_but_not_the_other_reset_pages():
    token = secrets.token_urlsafe(32)
    line = f'127.0.0.1 - - "GET /reset/{token}/ HTTP/1.1" 302 0 "https://x/reset/{token}" "-"'
    redacted = redact_text(line)
    assert token not in redacted
    assert redacted.count("/reset/********") == 2
    for kept in ("GET /reset HTTP/1.1", "POST /reset/new-password HTTP/1.1"):
        assert redact_text(kept) == kept


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


@pytest.mark.slow
def test_gunicorn_access_log_shows_no_reset_token(tmp_path):
    """``keystead serve`` for real: open a reset link and read what gunicorn logged."""
    env = {**os.environ,
           "KEYSTEAD_DATABASE_URL": f"sqlite:///{tmp_path / 'keystead.sqlite3'}",
           "KEYSTEAD_DATA_DIR": str(tmp_path / "data")}
    migrated = subprocess.run([sys.executable, "-m", "keystead", "migrate"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    port = _free_port()
    token = secrets.token_urlsafe(32)
    log_path = tmp_path / "serve.log"
    keystead = Path(sys.executable).with_name("keystead")
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(keystead), "serve", "--bind", f"127.0.0.1:{port}",
                                 "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(f"http://127.0.0.1:{port}/healthz")
                    break
                except OSError:
                    assert proc.poll() is None, "keystead serve exited early"
                    assert time.monotonic() < deadline, "keystead serve did not start"
                    time.sleep(0.2)
            assert _get(f"http://127.0.0.1:{port}/reset/{token}") == 200  # the link-gone page
            assert _get(f"http://127.0.0.1:{port}/reset") == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert '"GET /reset/******** HTTP/1.1" 200' in output
    assert '"GET /reset HTTP/1.1" 200' in output
    assert token not in output
