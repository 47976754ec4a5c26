"""The agent's own files under concurrent and hostile use: the events waiting for Keystead
stay bounded and survive a damaged line, and the store's key is made once however many
ask for it at the same time. A real HTTP server on loopback stands in for Keystead's
events endpoint (it records what it is sent)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet

from keystead_agent import events as events_module
from keystead_agent import signing, vault
from keystead_agent.config import Config
from keystead_agent.events import KEEP, Events
from keystead_agent.files import write_private


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.received.extend(body["events"])  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def keystead_events() -> Iterator[tuple[str, list[dict]]]:
    """The address of a server taking /devices/events, and the events it was sent."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def enrolled_events(tmp_path, server: str) -> Events:
    config = Config(server=server, device_id=1, state_dir=str(tmp_path / "state"), timeout=10)
    write_private(config.key_path, signing.private_pem(signing.new_private_key()))
    return Events(config)


def send_all(events: Events) -> None:
    for _ in range(KEEP // events_module.BATCH + 2):
        assert events.flush()


def test_waiting_events_are_bounded_the_oldest_dropped(tmp_path, keystead_events):
    """Failed sign-ins while Keystead cannot be reached add events without end: the file
    keeps the newest KEEP, rewritten whole (no temporary file left, still 0600), and what is
    sent afterwards is each of those once, in order."""
    server, received = keystead_events
    events = enrolled_events(tmp_path, server)
    for number in range(KEEP + 30):
        events.add("sign-in", user=f"u{number}", outcome="failure")
    lines = events.path.read_text().splitlines()
    assert len(lines) == KEEP
    assert json.loads(lines[0])["user"] == "u30"
    assert json.loads(lines[-1])["user"] == f"u{KEEP + 29}"
    assert events.path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in events.path.parent.iterdir()) == ["device.key", "events.jsonl"]
    send_all(events)
    assert [e["user"] for e in received] == [f"u{n}" for n in range(30, KEEP + 30)]
    assert all("seq" not in e for e in received)
    # Sent ones are dropped to make room too; the bookkeeping of what was sent holds.
    for number in range(KEEP + 30, KEEP + 40):
        events.add("sign-in", user=f"u{number}", outcome="failure")
    assert len(events.path.read_text().splitlines()) == KEEP
    send_all(events)
    assert [e["user"] for e in received[KEEP:]] == [f"u{n}" for n in range(KEEP + 30, KEEP + 40)]
    assert [e["user"] for e in events.last(2)] == [f"u{KEEP + 38}", f"u{KEEP + 39}"]


def test_a_damaged_line_does_not_stop_the_other_events(tmp_path, keystead_events):
    server, received = keystead_events
    events = enrolled_events(tmp_path, server)
    events.add("sign-in", user="ada", outcome="success")
    with events.path.open("a") as out:
        out.write('{"event": "sign-in", "user": "cut short\n[1, 2]\n\n')
    events.add("sign-in", user="bob", outcome="success")
    with events.path.open("a") as out:
        out.write('{"event": "sign-in", "us')  # a crash in the middle of a line
    events.add("sign-in", user="eve", outcome="failure")
    assert events.flush()
    assert [e["user"] for e in received] == ["ada", "bob", "eve"]
    assert [e["user"] for e in events.last()] == ["ada", "bob", "eve"]
    assert events.flush() and len(received) == 3  # nothing sent twice
    events.add("sign-in", user="ian", outcome="success")
    assert events.flush()
    assert [e["user"] for e in received] == ["ada", "bob", "eve", "ian"]


def test_events_written_before_sequence_numbers_are_sent_once(tmp_path, keystead_events):
    """A file from an agent that counted sent lines: the lines counted are not sent again."""
    server, received = keystead_events
    events = enrolled_events(tmp_path, server)
    events.path.write_text("".join(json.dumps({"event": "sign-in", "at": 1, "user": name})
                                   + "\n" for name in ("ada", "bob", "eve")))
    write_private(events.sent_path, b'{"count": 2}')
    events.add("sign-in", user="ian", outcome="success")
    assert events.flush()
    assert [e["user"] for e in received] == ["eve", "ian"]


def test_the_store_key_is_made_once_when_two_ask_at_once(tmp_path, monkeypatch):
    """Two threads find no key and both make one: the first to put its key in place wins
    and the other uses it, so what either encrypted can be read afterwards. The race is
    forced: the second makes its key only after the first has taken (and used) its own."""
    both_looked = threading.Barrier(2, timeout=10)
    first_has_key = threading.Event()

    class Racing(Fernet):
        @classmethod
        def generate_key(cls) -> bytes:
            both_looked.wait()  # neither found a key
            if threading.current_thread().name == "second":
                first_has_key.wait(timeout=10)
            return super().generate_key()

        def __init__(self, key: bytes) -> None:
            super().__init__(key)
            if threading.current_thread().name == "first":
                first_has_key.set()

    monkeypatch.setattr(vault, "Fernet", Racing)
    store = vault.Vault(tmp_path / "state")
    sealed: dict[str, bytes] = {}

    def seal(name: str) -> None:
        sealed[name] = store._fernet().encrypt(name.encode())

    threads = [threading.Thread(target=seal, args=(name,), name=name)
               for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(sealed) == {"first", "second"}
    monkeypatch.undo()
    final = Fernet(store.key_file.read_bytes())
    assert final.decrypt(sealed["first"]) == b"first"
    assert final.decrypt(sealed["second"]) == b"second"
    assert store.key_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in store.state.iterdir()] == ["store.key"]  # no temporary left
