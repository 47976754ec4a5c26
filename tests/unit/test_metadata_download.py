"""Reading SAML metadata from its URL, against a real HTTP server on loopback: the
document, and the refusals of a server that answers wrongly, too much or too slowly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keystead import metadata_download
from keystead.metadata_download import MetadataProblem, fetch

DOCUMENT = "<EntityDescriptor entityID='https://sp.example.test'>é</EntityDescriptor>"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/metadata":
            self._answer(200, DOCUMENT.encode())
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/metadata")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/endless":  # no length, never stops sending
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"<x/>" * 16384)
            except OSError:
                pass
        elif self.path == "/drip":  # a byte now and then, each in time, the whole too slow
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        else:
            self._answer(404, b"not here")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/samlmetadata+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_document_is_read_and_a_redirect_followed(base_url):
    assert fetch(f"{base_url}/metadata") == DOCUMENT
    assert fetch(f"{base_url}/moved") == DOCUMENT


def test_an_answer_other_than_200_is_refused_with_its_status(base_url):
    with pytest.raises(MetadataProblem, match="answered HTTP 404: check the address"):
        fetch(f"{base_url}/elsewhere")


def test_an_answer_that_never_ends_is_refused_past_the_limit(base_url):
    with pytest.raises(MetadataProblem, match="more than 2 MB"):
        fetch(f"{base_url}/endless")


def test_an_answer_that_drips_in_is_refused_when_the_whole_read_takes_too_long(
        base_url, monkeypatch):
    monkeypatch.setattr(metadata_download, "FETCH_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(MetadataProblem, match="did not finish answering within 1 s"):
        fetch(f"{base_url}/drip")
    assert time.monotonic() - started < 3  # the server would go on for 6 s


def test_an_address_that_is_not_http_or_nothing_listens_there_is_refused():
    with pytest.raises(MetadataProblem, match="must start with https://"):
        fetch("file:///etc/passwd")
    with pytest.raises(MetadataProblem, match=r"could not be fetched \(ConnectError\)"):
        fetch("http://127.0.0.1:9/metadata")
