"""SP-initiated sign-in in Chromium: the lasso SP's request, Keystead's sign-in page, and
the auto-posted response arriving at the SP's assertion consumer service."""

from __future__ import annotations

import http.server
import threading
from urllib.parse import parse_qs

import pytest

from .helpers import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Acs:
    """A plain HTTP server standing in for the SP's ACS: keeps what was posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, list[str]]] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<!doctype html><title>SP</title><h1>Signed in at the SP</h1>")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/acs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def acs():
    server = Acs()
    yield server
    server.server.shutdown()


def test_sp_initiated_sign_in_through_the_sign_in_page(page, live_server, settings, make_sp,
                                                       person, acs):
    settings.BASE_URL = live_server.url
    sp = make_sp(acs=acs.url)
    asked = sp.request("redirect", relay_state="/welcome")
    page.goto(asked["url"])
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Signed in at the SP").wait_for()
    assert len(acs.received) == 1
    posted = acs.received[0]
    assert posted["RelayState"] == ["/welcome"]
    got = sp.read(posted["SAMLResponse"][0])
    assert got["in_response_to"] == asked["id"]
    assert got["attributes"]["email"] == [person.email]
