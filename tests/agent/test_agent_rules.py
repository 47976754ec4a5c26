"""The agent's plain rules, without a server: which local account a typed name is, the
offline back-off, following Keystead's configuration, and that sending events holds no
lock while it waits for Keystead."""

from __future__ import annotations

import socket
import threading

import pytest

from keystead_agent import backoff, names, signing
from keystead_agent.config import Config, follow
from keystead_agent.events import Events
from keystead_agent.files import write_private


def local_only(*accounts: str):
    return lambda name: name in accounts


def test_a_typed_name_is_a_local_account():
    mapped = Config(login_name="email", email_domain="Example.com")
    plain = Config(login_name="local")
    nothing = {}.get
    assert names.local_name(plain, "ada", exists=local_only(), remembered=nothing) == "ada"
    # Under "email", local@domain is the local account, whatever the case of the domain.
    assert names.local_name(mapped, "ada@example.COM", exists=local_only(),
                            remembered=nothing) == "ada"
    assert names.local_name(mapped, "ada@other.org", exists=local_only(),
                            remembered=nothing) is None
    assert not names.needs_keystead(mapped, "ada@other.org")
    # Under "local", an email is Keystead's to resolve, unless remembered or a local name.
    assert names.local_name(plain, "ada@example.com", exists=local_only(),
                            remembered=nothing) is None
    assert names.needs_keystead(plain, "ada@example.com")
    assert names.local_name(plain, "ada@example.com", exists=local_only(),
                            remembered={"ada@example.com": "ada"}.get) == "ada"
    assert names.local_name(plain, "odd@name", exists=local_only("odd@name"),
                            remembered=nothing) == "odd@name"
    assert names.keystead_name(mapped, "ada", "ada") == "ada@Example.com"
    assert names.keystead_name(plain, "Ada@Example.com", "ada") == "Ada@Example.com"


def test_offline_back_off_grows_and_clears():
    assert [backoff.wait_after(n) for n in range(1, 7)] == [0, 0, 30, 60, 120, 240]
    assert backoff.wait_after(100) == backoff.MAX_WAIT
    now = [1000.0]
    table = backoff.Backoff(clock=lambda: now[0])
    assert table.failed("ada") == 0 and table.failed("ada") == 0
    assert table.remaining("ada") == 0
    assert table.failed("ada") == 30
    assert table.remaining("ada") == 30 and table.remaining("bob") == 0
    now[0] += 29.5
    assert table.remaining("ada") == 1
    now[0] += 1
    assert table.remaining("ada") == 0
    assert table.failed("ada") == 60  # the next wrong one waits twice as long
    table.clear("ada")
    assert table.remaining("ada") == 0 and table.failed("ada") == 0


def test_following_keystead_takes_only_what_it_decides():
    config = Config(mode="do-not-store", check_seconds=300, token_url="https://a/token")
    changed = follow(config, {"mode": "store", "check_seconds": 60, "token_url": "https://b",
                              "login_name": 7, "reset_url": config.reset_url})
    assert changed == {"mode": "store", "check_seconds": 60}
    assert (config.mode, config.check_seconds) == ("store", 60)
    assert config.token_url == "https://a/token" and config.login_name == "local"


@pytest.fixture
def silent_keystead():
    """A listening socket that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server


def test_sending_events_does_not_hold_the_lock(tmp_path, silent_keystead):
    port = silent_keystead.getsockname()[1]
    config = Config(server=f"http://127.0.0.1:{port}", device_id=1, state_dir=str(tmp_path),
                    timeout=60)
    write_private(config.key_path, signing.private_pem(signing.new_private_key()))
    events = Events(config)
    events.add("sign-in", user="ada", outcome="success")
    sending = threading.Thread(target=events.flush)
    sending.start()
    try:
        connection, _ = silent_keystead.accept()  # the flush is now waiting for an answer
        with connection:
            events.add("sign-in", user="bob", outcome="success")  # not blocked by it
            assert sending.is_alive()  # ... while the flush still waits for Keystead
            assert not events.flush()  # a second flush does not queue behind the first
            assert [e["user"] for e in events.last()] == ["ada", "bob"]
    finally:
        silent_keystead.close()
        sending.join(timeout=120)


def test_following_keystead_refuses_values_out_of_range():
    """An interval of 0 would have the root daemon check (and call Keystead) without pause,
    one too large overflows its wait and ends the checks; an unknown mode or mapping would
    be taken for another. Such answers leave the configuration as it was."""
    config = Config(mode="store", check_seconds=300, login_name="email", email_domain="x.org")
    for answer in ({"check_seconds": 0}, {"check_seconds": -5}, {"check_seconds": 10**18},
                   {"mode": "keep-everything"}, {"login_name": "uid"}):
        assert follow(config, answer) == {}, answer
    assert (config.mode, config.check_seconds, config.login_name) == ("store", 300, "email")
    assert follow(config, ["not", "an", "object"]) == {}
    assert follow(config, {"check_seconds": 30}) == {"check_seconds": 30}
