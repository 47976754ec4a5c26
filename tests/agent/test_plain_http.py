"""Passwords and tokens never travel over plain http to another computer: ``enroll
--server http://...``, an enrolment answer naming plain-http addresses, a configuration
re-read naming one, and a configuration file holding one are all refused before anything
is sent. Plain http to this computer (127.0.0.0/8, ::1, localhost) stays allowed: the
tests' own Keystead uses it. Real HTTP servers stand in for Keystead: one on loopback
answering the enrolment, one on this computer's network address recording whatever
reaches it (an address that is not loopback, so plain http to it is refused)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from keystead_agent import cli, remote, tls
from keystead_agent.config import Config, follow
from keystead_agent.remote import Check

ANSWER = {"device_id": 7, "client_id": "agent",
          "token_url": "https://id.example.com/oauth/token/",
          "userinfo_url": "https://id.example.com/oauth/userinfo/",
          "reset_url": "https://id.example.com/reset", "mode": "store", "check_seconds": 300,
          "login_name": "local", "email_domain": ""}


class _Keystead(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(self.server.answer).encode()  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def keystead_at(host: str, answer: dict | None = None) -> Iterator[tuple[str, list[str]]]:
    """A server on ``host`` answering every POST with ``answer`` (201); its base address
    and the paths it was sent."""
    server = ThreadingHTTPServer((host, 0), _Keystead)
    server.seen, server.answer = [], answer or ANSWER  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def network_address() -> str:
    """This computer's own address on its network (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only a route is chosen
        except OSError:
            pytest.skip("this computer has no network address besides loopback")
        address = probe.getsockname()[0]
    if address.startswith("127.") or address == "0.0.0.0":
        pytest.skip("this computer has no network address besides loopback")
    return address


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))
    return path


def enroll(config_file: Path, server: str) -> int:
    return cli.main(["--config", str(config_file), "enroll", "--server", server, "--token",
                     "kse_test", "--name", "pc-01"])


def test_only_https_or_this_computer_is_an_address_for_passwords():
    for allowed in ("https://id.example.com", "https://id.example.com:8443/oauth/token/",
                    "http://127.0.0.1:8000", "http://127.8.9.10/x", "http://[::1]:8000/",
                    "http://localhost", "http://LocalHost:8000/oauth/token/"):
        assert tls.encrypted_or_local(allowed), allowed
    for refused in ("http://id.example.com", "http://192.0.2.2:8000", "HTTP://10.0.0.1",
                    "http://127.0.0.1.example.com/", "http://127.0.0.1@evil.example/",
                    "http://localhost.example.com", "ftp://id.example.com", "id.example.com",
                    "", "https://", "http://[::1"):
        assert not tls.encrypted_or_local(refused), refused


def test_enrol_refuses_a_plain_http_server(config_file, network_address, capsys):
    with keystead_at(network_address) as (base, seen):
        assert enroll(config_file, base) == 1
    said = capsys.readouterr().err
    assert "--server" in said and "https://" in said and "unencrypted" in said
    assert seen == []  # not even the enrolment token was sent
    assert "device_id" not in json.loads(config_file.read_text())
    assert not (config_file.parent / "state" / "device.key").exists()


@pytest.mark.parametrize("name", ["token_url", "userinfo_url", "reset_url"])
def test_enrol_refuses_an_answer_naming_plain_http(config_file, capsys, name):
    answer = {**ANSWER, name: "http://id.example.com/somewhere"}
    with keystead_at("127.0.0.1", answer) as (base, seen):
        assert enroll(config_file, base) == 1
    said = capsys.readouterr().err
    assert name in said and "https://" in said and "nothing was written" in said
    assert seen == ["/devices/enroll"]
    assert "device_id" not in json.loads(config_file.read_text())
    assert not (config_file.parent / "state" / "device.key").exists()


def test_enrol_takes_plain_http_on_this_computer(config_file):
    answer = {**ANSWER, "token_url": "http://127.0.0.1:8000/oauth/token/",
              "userinfo_url": "http://localhost:8000/oauth/userinfo/",
              "reset_url": "http://[::1]:8000/reset"}
    with keystead_at("127.0.0.1", answer) as (base, _):
        assert enroll(config_file, base) == 0
    written = json.loads(config_file.read_text())
    assert written["token_url"] == "http://127.0.0.1:8000/oauth/token/"
    assert written["server"] == base


def test_a_configuration_file_naming_plain_http_sends_no_password(network_address):
    with keystead_at(network_address) as (base, seen):
        result = remote.check_password(Config(token_url=f"{base}/oauth/token/",
                                              client_id="agent", timeout=5),
                                       "ada", "the password")
        assert result.check is Check.UNREACHABLE
        with pytest.raises(remote.PlainHTTPRefused):
            remote.exchange("GET", f"{base}/healthz", timeout=5)
    assert seen == []


def test_following_keystead_refuses_plain_http_addresses():
    config = Config(reset_url="https://id.example.com/reset",
                    userinfo_url="https://id.example.com/oauth/userinfo/")
    assert follow(config, {"reset_url": "http://help.example.com/reset",
                           "userinfo_url": "http://id.example.com/oauth/userinfo/"}) == {}
    assert config.reset_url == "https://id.example.com/reset"
    assert follow(config, {"reset_url": "https://help.example.com/reset",
                           "userinfo_url": "http://127.0.0.1:8000/oauth/userinfo/"}) == {
        "reset_url": "https://help.example.com/reset",
        "userinfo_url": "http://127.0.0.1:8000/oauth/userinfo/"}
