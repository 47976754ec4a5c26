"""pam_keystead.so itself, against a stand-in daemon that says exactly the lines a test
gives it: whom the module listens to, and what it does with lines it must not trust.
pamtester drives the module built by its Makefile, through a real PAM service file."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .helpers import build_pam_module, local_user, pam_service, pamtester
from .test_pam_sign_in import unique

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]

# A stand-in daemon: reads the "begin" line, says the given lines, hangs up; for ever.
STAND_IN = """
import os, socket, sys
path, lines = sys.argv[1], [line.encode() + b"\\n" for line in sys.argv[2:]]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o666)
server.listen(8)
while True:
    connection, _ = server.accept()
    with connection:
        stream = connection.makefile("rwb")
        stream.readline()
        for line in lines:
            stream.write(line)
        stream.flush()
"""


@pytest.fixture
def where() -> Iterator[Path]:
    """A directory for the stand-in's socket that ``nobody`` may create it in."""
    path = Path(tempfile.mkdtemp(prefix="keystead-standin-"))
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def stand_in(path: Path, *lines: str, user: str = "root") -> Iterator[None]:
    """The stand-in daemon on ``path``, running as ``user`` (a real process of theirs)."""
    proc = subprocess.Popen(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", STAND_IN,
                             str(path), *lines], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the stand-in never listened"
            time.sleep(0.05)
        yield
    finally:
        proc.kill()
        proc.wait()
        path.unlink(missing_ok=True)


@contextmanager
def module_alone(path: Path) -> Iterator[str]:
    """A PAM service where pam_keystead alone decides."""
    with pam_service(f"auth required {build_pam_module()} socket={path}",
                     "account required pam_permit.so") as service:
        yield service


def test_only_a_daemon_running_as_root_is_listened_to(where):
    """Whoever binds the socket's path (a user, where the path is one they may write)
    must not be able to say "allowed" for any account."""
    sock = where / "agent.sock"
    with local_user(unique("Local")) as name, module_alone(sock) as service:
        with stand_in(sock, '{"type":"allowed","text":""}', user="root"):
            assert pamtester(service, name, "anything").ok  # the stand-in is heard ...
        with stand_in(sock, '{"type":"allowed","text":""}', user="nobody"):
            someone_else = pamtester(service, name, "anything")
        assert not someone_else.ok, someone_else.output  # ... only when it is root


def test_a_unicode_escape_must_be_four_hex_digits(where):
    """A short \\u escape once made the reader skip past the end of the line into what an
    earlier, longer line left in the buffer (and on past the buffer's end): the line is
    now refused, which ends the conversation undecided."""
    sock = where / "agent.sock"
    earlier = '{"type":"info","text":"' + "x" * 40 + '-left-over-from-before"}'
    short_escape = '{"type":"info","text":"\\u1"}'
    with local_user(unique("Local")) as name, module_alone(sock) as service:
        with stand_in(sock, earlier, short_escape, '{"type":"allowed","text":""}'):
            answer = pamtester(service, name)
        assert answer.output.count("left-over-from-before") == 1, answer.output
        assert not answer.ok, answer.output
        for bad in ('\\u00', '\\u+041', '\\u 041', '\\u0000', '\\udc00', '\\ud800x'):
            line = '{"type":"info","text":"' + bad + '"}'
            with stand_in(sock, line, '{"type":"allowed","text":""}'):
                refused = pamtester(service, name)
            assert not refused.ok, (bad, refused.output)
        # Well-formed escapes, a surrogate pair among them, still read.
        with stand_in(sock, '{"type":"info","text":"caf\\u00e9 \\ud83d\\ude00 ok"}',
                      '{"type":"allowed","text":""}'):
            fine = pamtester(service, name)
        assert fine.ok and "café 😀 ok" in fine.output, fine.output


def test_a_failed_conversation_is_not_answered_for_the_person(where):
    """When the prompt cannot be shown (no answer), the module stops with a conversation
    error instead of sending the daemon an empty password."""
    sock = where / "agent.sock"
    with local_user(unique("Local")) as name, module_alone(sock) as service:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(sock))
        server.listen(1)
        answers: list[bytes] = []

        def daemon() -> None:
            connection, _ = server.accept()
            with connection:
                stream = connection.makefile("rwb")
                stream.readline()
                stream.write(b'{"type":"ask-password","text":"Password: "}\n')
                stream.flush()
                answers.append(stream.readline())

        thread = threading.Thread(target=daemon)
        thread.start()
        try:
            run = subprocess.run(["pamtester", "-v", service, name, "authenticate"],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=120)
        finally:
            thread.join(timeout=60)
            server.close()
        assert run.returncode != 0
        assert answers == [b""], answers  # the module hung up; it sent no answer
        assert "onversation error" in run.stdout + run.stderr, run.stdout + run.stderr
