"""``keystead serve``'s access log, for real: one line per request on stdout (the server's own
lines on stderr), with the same redaction as every other log line (a password-reset link's
path is a credential; so is a token in a query string)."""

from __future__ import annotations

import json
import logging
import secrets

import pytest

from keystead.logs import RedactLineFilter, granian_logging

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
    # granian's default line has the path without the query string; the query check guards
    # a format that adds it (test_a_query_string_in_the_access_line_is_redacted).
    assert reset_token not in output and query_token not in output
    assert '"GET /' not in served.stderr()  # access lines on stdout only
    assert "Starting granian" in served.stderr()  # the server's own lines on stderr


def test_a_query_string_in_the_access_line_is_redacted():
    """granian logs a mapping of the request's fields; an access format that shows the query
    string (``%(query_string)s``) still has its tokens hidden, in the finished line."""
    config = granian_logging("human", "INFO")
    assert config["filters"]["redact"]["()"] is RedactLineFilter
    assert config["handlers"]["access"]["filters"] == ["redact"]
    token = secrets.token_urlsafe(24)
    fields = {"method": "GET", "path": "/healthz", "query_string": f"access_token={token}&a=1",
              "status": 200}
    record = logging.LogRecord("granian.access", logging.INFO, __file__, 0,
                               '"%(method)s %(path)s?%(query_string)s" %(status)d',
                               (fields,), None)
    assert RedactLineFilter().filter(record)
    assert record.getMessage() == '"GET /healthz?access_token=********&a=1" 200'
    assert token not in record.getMessage()
