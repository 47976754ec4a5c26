"""Reading the IdP's metadata URL: entity id, SSO address and rollover certificates."""

from __future__ import annotations

import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keystead.directory.models import Event
from keystead.sources.saml import idp_metadata, services
from keystead.sources.saml.certificates import check_certificates
from keystead.sources.saml.models import SamlSource

from .conftest import make_key_pair

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@pytest.fixture
def metadata_server():
    """Serves whatever document the test puts in ``served["xml"]``."""
    served = {"xml": ""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = served["xml"].encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/metadata"
    yield served
    server.shutdown()
    server.server_close()


def document(*pems: str) -> str:
    ders = list(check_certificates("".join(pems), datetime.datetime.now(datetime.UTC))
                .certificates)
    return idp_metadata.written("https://idp.example.test/saml/metadata",
                                {REDIRECT: "https://idp.example.test/sso"}, ders)


def test_a_refresh_takes_the_new_certificate_of_a_rollover(saml_source, metadata_server,
                                                          idp_keys):
    new = make_key_pair("Next IdP key").cert
    metadata_server["xml"] = document(idp_keys.cert, new)
    SamlSource.objects.filter(pk=saml_source.pk).update(metadata_url=metadata_server["url"])
    saml_source.refresh_from_db()
    services.refresh_metadata(saml_source, force=True)
    stored = SamlSource.objects.get()
    assert stored.certificate.count("BEGIN CERTIFICATE") == 2
    assert stored.metadata_fetched_at is not None
    assert Event.objects.filter(action="saml_source.metadata_refresh").exists()


def test_a_failed_refresh_keeps_the_old_values_and_says_why(saml_source, metadata_server):
    before = saml_source.certificate
    SamlSource.objects.filter(pk=saml_source.pk).update(metadata_url=metadata_server["url"])
    saml_source.refresh_from_db()
    services.refresh_metadata(saml_source, force=True)
    stored = SamlSource.objects.get()
    assert stored.certificate == before
    assert "metadata refresh failed" in stored.last_error
