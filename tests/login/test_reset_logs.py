"""A reset link's path is a credential: no log line shows it, the access log included."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time

import httpx
import pytest

from keystead.logs import redact_text

from .helpers_live import live_keystead, server_env


def test_redaction_hides_a_reset_link_but_not_the_other_reset_pages():
    token = secrets.token_urlsafe(32)
    line = f'127.0.0.1 - - "GET /reset/{token}/ HTTP/1.1" 302 0 "https://x/reset/{token}" "-"'
    redacted = redact_text(line)
    assert token not in redacted
    assert redacted.count("/reset/********") == 2
    for kept in ("GET /reset HTTP/1.1", "POST /reset/new-password HTTP/1.1"):
        assert redact_text(kept) == kept


@pytest.mark.slow
def test_the_access_log_shows_no_reset_token(tmp_path):
    """``keystead serve`` for real: open a reset link and read what the server logged."""
    db_url = f"sqlite:///{tmp_path / 'keystead.sqlite3'}"
    migrated = subprocess.run([sys.executable, "-m", "keystead", "migrate"],
                              env=server_env(db_url, tmp_path / "data", "http://127.0.0.1"),
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    token = secrets.token_urlsafe(32)
    with live_keystead(db_url, tmp_path, workers=1) as server:
        assert httpx.get(f"{server.base}/reset/{token}").status_code == 200  # link-gone page
        assert httpx.get(f"{server.base}/reset").status_code == 200
        # The server writes a request's access line just after its answer: wait for it.
        deadline = time.monotonic() + 10
        while ('"GET /reset HTTP/1.1"' not in server.log_path.read_text()
               and time.monotonic() < deadline):
            time.sleep(0.05)
    output = server.log_path.read_text()
    assert '"GET /reset/******** HTTP/1.1" 200' in output
    assert '"GET /reset HTTP/1.1" 200' in output
    assert token not in output
