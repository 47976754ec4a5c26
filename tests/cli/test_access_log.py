"""``keystead serve``'s access log, for real: one line per request on stdout (the server's own
lines on stderr), with the same redaction as every other log line (a password-reset link's
path is a credential; so is a token in a query string)."""

from __future__ import annotations

import json
import secrets

import pytest

from .serving import get, keystead_serve, migrated_env


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["human", "json"])
def test_the_access_log_hides_reset_links_and_tokens(tmp_path, log_format):
    reset_token = secrets.token_urlsafe(32)
    query_token = secrets.token_urlsafe(24)
    env = {**migrated_env(tmp_path), "KEYSTEAD_LOG_FORMAT": log_format}
    with keystead_serve(tmp_path, workers=1, env=env) as served:
        base = f"http://127.0.0.1:{served.port}"
        assert get(f"{base}/reset/{reset_token}")[0] == 200  # the "link no longer works" page
        assert get(f"{base}/healthz?access_token={query_token}")[0] == 200
        assert get(f"{base}/reset")[0] == 200
        served.wait_for_output("GET /reset HTTP/1.1")  # the last request's line
    output = served.log()
    lines = [json.loads(line)["message"] if log_format == "json" else line
             for line in served.stdout().splitlines() if '"GET /' in line]
    # Whatever the reset pages answer (a page, or a redirect to one), each request has its
    # line, and the link's path is hidden in it.
    assert any('"GET /reset/******** HTTP/1.1" ' in line for line in lines), lines
    assert any('"GET /reset HTTP/1.1" ' in line for line in lines), lines
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in lines), lines
    assert reset_token not in output and query_token not in output
    assert '"GET /' not in served.stderr()  # access lines on stdout only
    assert "Starting granian" in served.stderr()  # the server's own lines on stderr
