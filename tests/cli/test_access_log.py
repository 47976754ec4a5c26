"""``keystead serve``'s access log writes gunicorn's combined format without gunicorn's
table of every header: the line must be the one gunicorn itself would write."""

from __future__ import annotations

import datetime
import io
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import SafeAtoms

from keystead.logs import gunicorn_logger_class


def _request(**environ_extra):
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/oauth/token/?x=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
               "PATH_INFO": "/oauth/token/", "QUERY_STRING": "x=1", **environ_extra}
    headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
    return environ, SimpleNamespace(headers=headers)


@pytest.mark.smoke
@pytest.mark.parametrize("environ_extra, status, sent", [
    ({}, "200 OK", 1234),
    ({"HTTP_REFERER": "https://app.example/x", "HTTP_USER_AGENT": "curl/8 \"quoted\""},
     "302 Found", 0),
    ({"HTTP_AUTHORIZATION": "Basic Y2xpZW50LWlkOnNlY3JldA=="}, "401 Unauthorized", None),
])
def test_the_access_line_is_gunicorns_combined_format(environ_extra, status, sent):
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = gunicorn_logger_class()(cfg)
    logger.now = lambda: "[22/Nov/2026:18:00:00 +0000]"  # one instant for both lines
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
    environ, request = _request(**environ_extra)
    response = SimpleNamespace(status=status, sent=sent, headers=[("Content-Type", "x")])
    took = datetime.timedelta(microseconds=1500)

    logger.access(response, request, environ, took)

    expected = cfg.access_log_format % SafeAtoms(logger.atoms(response, request, environ, took))
    # gunicorn's access logger is process-wide: every handler a test attached writes the line.
    assert set(stream.getvalue().splitlines()) == {expected}
    if "HTTP_AUTHORIZATION" in environ_extra:  # the Basic user only, never its secret
        written = stream.getvalue()
        assert " client-id [" in written and "secret" not in written and "Y2xp" not in written
