"""What the agent makes of a Keystead (or whatever stands in its place: a proxy, a captive
portal, a broken server) that answers slowly, without end, or with something other than
the JSON object the token endpoint gives. A real HTTP server on loopback plays that part:
the real Keystead cannot be made to misbehave so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keystead_agent import remote
from keystead_agent.config import Config
from keystead_agent.remote import Check

DRIPPED = b'{"access_token": "a", "refresh_token": "r", "pad": "' + b" " * 40 + b'"}'
ANSWERS: dict[str, tuple[int, bytes]] = {
    "/huge": (200, b'{"access_token": "a", "pad": "' + b"a" * (4 * 1024 * 1024)
              + b'"}'),
    "/empty-object": (200, b"{}"),
    "/list": (200, b"[1, 2]"),
    "/text": (200, b"<html>Sign in to the hotel Wi-Fi</html>"),
    "/mistyped": (200, json.dumps({"access_token": "a", "refresh_token": 5, "id_token": 7})
                  .encode()),
    "/wrong": (400, json.dumps({"error": "invalid_grant", "error_description": 7}).encode()),
    "/refused": (400, json.dumps({"error": ["x"], "error_description": {"a": 1}}).encode()),
}


class _Odd(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/drip":  # a valid yes, one byte every 0.3 seconds
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(DRIPPED)))
            self.end_headers()
            try:
                for byte in DRIPPED:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass  # the agent hung up: what it should do
            return
        status, body = ANSWERS[self.path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def odd_keystead() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def check(base: str, path: str, timeout: float = 3) -> remote.CheckResult:
    return remote.check_password(Config(token_url=f"{base}{path}", client_id="agent",
                                        timeout=timeout), "ada", "a password")


def test_a_slow_answer_is_unreachable_within_the_timeout(odd_keystead):
    """``timeout`` bounds the whole exchange: an answer trickling in (each piece within
    the timeout) does not hold the sign-in for as long as the server likes."""
    started = time.monotonic()
    result = check(odd_keystead, "/drip", timeout=2)
    assert result.check is Check.UNREACHABLE, result
    assert time.monotonic() - started < 8


def test_an_exchange_works_where_an_event_loop_runs(odd_keystead):
    """The agent's calls are plain blocking ones: they also work from a thread that
    runs an event loop (a desktop library's, or a test browser's)."""

    async def in_a_loop() -> remote.CheckResult:
        return check(odd_keystead, "/mistyped")

    results: list[remote.CheckResult | BaseException] = []

    def run() -> None:  # a thread of its own: this one may already run a loop
        try:
            results.append(asyncio.run(in_a_loop()))
        except BaseException as error:  # reported below, where the test can fail
            results.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert len(results) == 1 and not isinstance(results[0], BaseException), results
    assert results[0].check is Check.RIGHT


def test_an_endless_answer_is_not_read_whole(odd_keystead):
    result = check(odd_keystead, "/huge")
    assert result.check is Check.UNREACHABLE and result.message == "AnswerTooLarge", result


@pytest.mark.parametrize("path", ["/empty-object", "/list", "/text"])
def test_a_yes_is_a_json_object_with_a_token(odd_keystead, path):
    """A 200 that is not a token answer (a portal's page, a proxy's empty object) is not
    Keystead's yes: taken for one, it would let any password in and make it the local one."""
    result = check(odd_keystead, path)
    assert result.check is Check.UNREACHABLE, result


def test_fields_of_the_wrong_type_are_not_taken(odd_keystead):
    right = check(odd_keystead, "/mistyped")
    assert right.check is Check.RIGHT and right.refresh_token == "" and right.username == ""
    wrong = check(odd_keystead, "/wrong")
    assert wrong.check is Check.WRONG and wrong.message == ""
    refused = check(odd_keystead, "/refused")
    assert refused.check is Check.REFUSED and refused.message == ""
