"""`keystead-agent diagnose` names what is wrong with TLS and the clock.

Keystead's test server speaks plain HTTP, so these cases use a real HTTPS server of the
standard library (real OpenSSL handshakes, certificates made here with ``cryptography``)
that answers ``/healthz`` the way Keystead does; it stands in for a misconfigured
installation, which is what the command has to describe."""

from __future__ import annotations

import datetime as dt
import email.utils
import http.server
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .helpers import run_agent

NOW = dt.datetime.now(dt.UTC)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_ca(text: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(text)).issuer_name(_name(text))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca: tuple, *, names: list[x509.GeneralName], expired: bool = False):
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start = NOW - dt.timedelta(days=10)
    end = NOW - dt.timedelta(days=1) if expired else NOW + dt.timedelta(days=10)
    cert = (x509.CertificateBuilder().subject_name(_name("keystead")).issuer_name(
        ca_cert.subject).public_key(key.public_key()).serial_number(
        x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256()))
    return key, cert


def pem(tmp: Path, stem: str, key, cert) -> tuple[Path, Path]:
    key_path, cert_path = tmp / f"{stem}.key", tmp / f"{stem}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@contextmanager
def https_server(key: Path, cert: Path, clock_offset: float = 0) -> Iterator[int]:
    """An HTTPS server on a free port answering 200 with a Date ``clock_offset`` seconds
    away from now."""

    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response_only(200)
            self.send_header("Date", email.utils.formatdate(time.time() + clock_offset,
                                                            usegmt=True))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def diagnose(tmp: Path, port: int, ca: Path, host: str = "127.0.0.1") -> str:
    config = tmp / "agent.json"
    config.write_text(json.dumps({"server": f"https://{host}:{port}", "ca_file": str(ca),
                                  "socket": str(tmp / "none.sock"),
                                  "state_dir": str(tmp / "state")}))
    run = run_agent(config, "diagnose")
    assert run.returncode == 1, run.stdout + run.stderr  # something is always wrong here
    return run.stdout


LOCAL = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]


def test_tls_failures_are_named(tmp_path):
    trusted = make_ca("Trusted CA")
    _, ca_pem = pem(tmp_path, "ca", *trusted)

    with https_server(*pem(tmp_path, "expired", *make_leaf(trusted, names=LOCAL,
                                                           expired=True))) as port:
        out = diagnose(tmp_path, port, ca_pem)
        assert "TLS:           FAILED: Keystead's certificate has expired" in out, out

    stranger = make_ca("Unknown CA")
    with https_server(*pem(tmp_path, "stranger", *make_leaf(stranger, names=LOCAL))) as port:
        out = diagnose(tmp_path, port, ca_pem)
        assert "not trust" in out and "ca_file" in out, out

    other = [x509.DNSName("id.example.com")]
    with https_server(*pem(tmp_path, "other", *make_leaf(trusted, names=other))) as port:
        out = diagnose(tmp_path, port, ca_pem, host="localhost")
        assert "Keystead's certificate is not for the name localhost" in out, out

    with https_server(*pem(tmp_path, "good", *make_leaf(trusted, names=LOCAL)),
                      clock_offset=-3600) as port:
        out = diagnose(tmp_path, port, ca_pem)
        assert "TLS:           certificate verified for 127.0.0.1" in out, out
        skew = re.search(r"clock skew:    \+(\d+)s TOO LARGE: .* fix the clock", out)
        assert skew and int(skew.group(1)) >= 3600, out  # Keystead's clock an hour behind
