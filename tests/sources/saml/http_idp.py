"""A tiny HTTP identity provider for the browser test: Lasso answers, a page posts it back.

It listens on a free loopback port in a thread of the test process. Its SSO
address takes Keystead's HTTP-Redirect AuthnRequest (the raw query string, so
Lasso checks Keystead's signature on it), asks ``lasso_idp.py`` for a signed
response for the person the IdP "knows", and shows a page whose button posts
it to Keystead's ACS, as an IdP's consent page would.
"""

from __future__ import annotations

import html
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .conftest import KeyPair, run_lasso


@contextmanager
def serving(keys: KeyPair, *, sp_base: str, name_id: str, name_id_format: str,
            host: str = "localhost") -> Iterator[dict]:
    """Run the IdP; yields its ``entity_id`` and ``sso_url``."""
    where: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:
            query = urlsplit(self.path).query
            with urllib.request.urlopen(f"{sp_base}/sources/saml/metadata") as answer:
                sp_metadata = answer.read().decode()
            result = run_lasso({
                "idp_key": keys.key, "idp_cert": keys.cert, "entity_id": where["entity_id"],
                "sso_url": where["sso_url"], "sp_metadata": sp_metadata, "request": query,
                "binding": "redirect", "name_id": name_id, "name_id_format": name_id_format})
            body = (f"<!doctype html><title>Test IdP</title><h1>Test IdP</h1>"
                    f'<form method="post" action="{html.escape(result["url"])}">'
                    f'<input type="hidden" name="SAMLResponse" '
                    f'value="{html.escape(result["response"])}">'
                    f'<button type="submit">Continue to Keystead</button></form>').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://{host}:{server.server_address[1]}"
    where.update(entity_id=f"{base}/metadata", sso_url=f"{base}/sso")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield where
    finally:
        server.shutdown()
        server.server_close()
