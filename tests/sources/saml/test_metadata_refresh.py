"""Reading the IdP's metadata URL: entity id, SSO address and rollover certificates."""

from __future__ import annotations

import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from keystead.directory.models import Event
from keystead.sources.saml import idp_metadata, services
from keystead.sources.saml.certificates import check_certificates
from keystead.sources.saml.models import SamlSource

from .conftest import make_key_pair

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@pytest.fixture
def metadata_server():
    """Serves whatever document the test puts in ``served["xml"]`` and counts the reads in
    ``served["reads"]``. A test that clears ``served["release"]`` makes the first read wait
    until it sets it again (a slow IdP); ``served["arrived"]`` is set when that read came."""
    served = {"xml": "", "reads": 0, "release": threading.Event(),
              "arrived": threading.Event()}
    served["release"].set()
    counting = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            with counting:
                served["reads"] += 1
                first = served["reads"] == 1
            if first:
                served["arrived"].set()
                served["release"].wait(30)
            body = served["xml"].encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/metadata"
    yield served
    served["release"].set()
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


def _due(source: SamlSource, server: dict) -> None:
    """Point ``source`` at the metadata server, last read longer ago than its period."""
    SamlSource.objects.filter(pk=source.pk).update(
        metadata_url=server["url"],
        metadata_fetched_at=timezone.now() - datetime.timedelta(hours=25))


def _sign_in_starts(client: Client) -> None:
    answer = client.get("/sources/saml/login")
    assert answer.status_code == 302, answer.content[:500]
    assert answer["Location"].startswith("https://idp.example.test/")


@pytest.mark.django_db(transaction=True)
def test_while_one_sign_in_waits_for_a_slow_idp_the_next_does_not_read_again(
        saml_source, metadata_server, idp_keys):
    metadata_server["xml"] = document(idp_keys.cert)
    _due(saml_source, metadata_server)
    metadata_server["release"].clear()

    def first_sign_in() -> None:
        try:
            _sign_in_starts(Client())
        finally:
            connection.close()

    first = threading.Thread(target=first_sign_in)
    first.start()
    try:
        assert metadata_server["arrived"].wait(20), "the first sign-in never read the URL"
        _sign_in_starts(Client())  # goes on with the metadata it has, at once
        assert metadata_server["reads"] == 1
    finally:
        metadata_server["release"].set()
        first.join()
    assert metadata_server["reads"] == 1
    assert SamlSource.objects.get().metadata_fetched_at > timezone.now() - datetime.timedelta(
        minutes=1)
    assert Event.objects.filter(action="saml_source.metadata_refresh").count() == 1


def test_after_a_failed_refresh_the_next_sign_ins_do_not_wait_for_the_idp(
        client, saml_source, metadata_server):
    _due(saml_source, metadata_server)  # the server answers 404
    _sign_in_starts(client)
    _sign_in_starts(client)
    assert metadata_server["reads"] == 1
    stored = SamlSource.objects.get()
    assert "metadata refresh failed" in stored.last_error
    assert stored.metadata_checked_at is not None
    SamlSource.objects.filter(pk=stored.pk).update(
        metadata_checked_at=stored.metadata_checked_at - services.RETRY_AFTER)
    _sign_in_starts(client)  # the retry interval has passed: one sign-in tries again
    assert metadata_server["reads"] == 2


def test_of_two_claims_on_the_same_due_refresh_one_wins(saml_source, metadata_server):
    _due(saml_source, metadata_server)
    now = timezone.now()
    mine, theirs = SamlSource.objects.get(), SamlSource.objects.get()
    assert services.refresh_due(mine, now) and services.refresh_due(theirs, now)
    assert services.claim_refresh(mine, now)
    assert not services.claim_refresh(theirs, now)


def test_a_url_never_read_is_read_even_while_another_sign_in_claimed_it(
        client, saml_source, metadata_server, idp_keys):
    metadata_server["xml"] = document(idp_keys.cert)
    SamlSource.objects.filter(pk=saml_source.pk).update(
        metadata_url=metadata_server["url"], metadata_checked_at=timezone.now())
    _sign_in_starts(client)
    assert metadata_server["reads"] == 1
    assert SamlSource.objects.get().metadata_fetched_at is not None
