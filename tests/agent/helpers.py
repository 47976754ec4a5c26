"""Real parts for the agent's tests: local accounts (useradd), PAM service files, pamtester,
the agent daemon as a root subprocess, and a Keystead application allowed the password grant.
Everything made here is removed when its ``with`` block ends, whatever happened inside."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oauth2_provider.models import get_application_model

from keystead.directory.models import Event
from keystead.providers.oidc.models import ClientSettings

REPO = Path(__file__).resolve().parents[2]
PAM_DIR = REPO / "agent" / "pam"
PAM_MODULE = PAM_DIR / "pam_keystead.so"
AGENT = [sys.executable, "-m", "keystead_agent"]


def build_pam_module() -> Path:
    """``make -C agent/pam``: the module as the Makefile builds it (gcc, libpam0g-dev)."""
    subprocess.run(["make", "-s", "-C", str(PAM_DIR)], check=True, capture_output=True)
    return PAM_MODULE


def agent_application(name: str = "Endpoint agent"):
    """A public OpenID Connect application allowed only the password grant."""
    Application = get_application_model()
    app = Application.objects.create(
        name=name, client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_PASSWORD, redirect_uris="",
        client_secret="", skip_authorization=True, algorithm=Application.RS256_ALGORITHM)
    ClientSettings.objects.create(application=app, allowed_grants=["password"])
    return app


def run_agent(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*AGENT, "--config", str(config), *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


@contextmanager
def local_user(password: str) -> Iterator[str]:
    """A real local account (useradd), with ``password``; deleted afterwards."""
    name = f"kst{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        yield name
    finally:
        remove_user(name)


def remove_user(name: str, *, home: bool = False) -> None:
    """userdel, retried while it cannot yet (a process of the account still ending: status
    8; /etc/passwd locked by another useradd: status 10)."""
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(["userdel", *(["--remove"] if home else []), name],
                              capture_output=True, text=True, check=False)
        if done.returncode in (0, 6) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done.returncode in (0, 6), f"userdel {name}: {done.stderr}"  # 6: already gone


@contextmanager
def pam_service(*lines: str) -> Iterator[str]:
    """A PAM service file /etc/pam.d/keystead-test-<random>; removed afterwards."""
    name = f"keystead-test-{secrets.token_hex(4)}"
    path = Path("/etc/pam.d") / name
    path.write_text("\n".join(lines) + "\n")
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)


@dataclass
class Pam:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def pamtester(service: str, user: str, *answers: str) -> Pam:
    """``pamtester SERVICE USER authenticate`` answering the prompts in order (stdin)."""
    run = subprocess.run(["pamtester", "-v", service, user, "authenticate"],
                         input="".join(f"{a}\n" for a in answers), capture_output=True,
                         text=True, timeout=120)
    return Pam(run.returncode, run.stdout + run.stderr)


@dataclass
class AgentSetup:
    root: Path
    config: Path
    socket: str
    log: Path
    state: Path
    keystead_service: str  # pam_keystead, then pam_unix with the typed password
    keystead_only: str  # pam_keystead alone: the agent decides
    unix_only: str  # pam_unix alone: the local password, whatever the agent did

    def settings(self) -> dict:
        return json.loads(self.config.read_text())

    def change(self, **values) -> None:
        self.config.write_text(json.dumps({**self.settings(), **values}))


@contextmanager
def agent_setup(tmp: Path, **local: str) -> Iterator[AgentSetup]:
    """The agent's configuration under ``tmp`` (its own socket, state and log) and the
    three PAM services the tests sign in through."""
    root = tmp / "agent"
    root.mkdir(mode=0o700)
    config = root / "agent.json"
    sock = str(root / "agent.sock")
    log, state = root / "agent.log", root / "state"
    # The system's defaults, less the cracklib dictionary check: Debian's libpwquality does
    # not pull in the dictionary (cracklib-runtime), and without it every check fails.
    pwquality = root / "pwquality.conf"
    pwquality.write_text("dictcheck = 0\n")
    local = {"pwquality_conf": str(pwquality), **local}
    config.write_text(json.dumps({"socket": sock, "state_dir": str(state),
                                  "log_file": str(log), "timeout": 5, **local}))
    config.chmod(0o600)
    module = build_pam_module()
    with (pam_service(f"auth [success=done ignore=ignore default=die] {module} socket={sock}",
                      "auth required pam_unix.so try_first_pass nodelay",
                      "account required pam_permit.so") as both,
          pam_service(f"auth required {module} socket={sock}",
                      "account required pam_permit.so") as alone,
          pam_service("auth required pam_unix.so nodelay",
                      "account required pam_permit.so") as unix):
        yield AgentSetup(root, config, sock, log, state, both, alone, unix)


@contextmanager
def running_daemon(setup: AgentSetup) -> Iterator[subprocess.Popen]:
    """``keystead-agent daemon`` as root, until the block ends (then stopped and waited for)."""
    err = (setup.root / "daemon.err").open("w")
    proc = subprocess.Popen([*AGENT, "--config", str(setup.config), "daemon"],
                            stdout=err, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _listening(setup.settings()["socket"]):
            assert proc.poll() is None, (setup.root / "daemon.err").read_text()
            assert time.monotonic() < deadline, "the agent daemon did not start listening"
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


def _listening(path: str) -> bool:
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def every_agent_file(setup: AgentSetup) -> dict[Path, bytes]:
    """Everything the agent wrote: its log, state files, events and daemon output."""
    return {path: path.read_bytes() for path in setup.root.rglob("*") if path.is_file()}


@contextmanager
def desktop_session(user: str) -> Iterator[tuple[str, Path]]:
    """A real session bus for ``user`` (dbus-run-session, run as them) with python3-dbusmock's
    notification daemon standing in for the desktop; yields the bus address and the mock's
    log of calls. Stopped (the whole session, by its process group) afterwards."""
    import shutil
    import signal
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="keystead-bus-"))
    where.chmod(0o777)  # the person writes the address and the mock's log here
    address_file, calls = where / "address", where / "calls.log"
    script = (f"echo \"$DBUS_SESSION_BUS_ADDRESS\" > {address_file}; exec /usr/bin/python3 "
              f"-m dbusmock --template notification_daemon -l {calls}")
    proc = subprocess.Popen(["runuser", "-u", user, "--", "dbus-run-session", "--", "sh", "-c",
                             script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            # dbusmock looks for its template in the working directory
                            # first: it must be one the person may read.
                            cwd=where, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (address_file.exists() and address_file.read_text().strip()
                   and calls.exists()):
            assert proc.poll() is None, "dbus-run-session ended early"
            assert time.monotonic() < deadline, "no session bus"
            time.sleep(0.1)
        yield address_file.read_text().strip(), calls
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(where, ignore_errors=True)


def wait_for_text(path: Path, text: str, seconds: float = 90) -> str:
    """Wait until ``path`` holds ``text``; its content."""
    deadline = time.monotonic() + seconds
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}:\n{content}"
        time.sleep(0.2)


def agent_sync(setup: AgentSetup, user: str, *answers: str) -> subprocess.CompletedProcess:
    """``keystead-agent sync --user USER`` in a terminal-less session, answering on stdin."""
    return subprocess.run([*AGENT, "--config", str(setup.config), "sync", "--user", user],
                          input="".join(f"{a}\n" for a in answers), capture_output=True,
                          text=True, timeout=120, start_new_session=True)


def wait_for_event(action: str, outcome: str | None = None, seconds: float = 60) -> Event:
    """The first audit Event ``action`` (with ``outcome``, if given), waited for: the
    daemon answers PAM first and reports its events to Keystead after that."""
    events = Event.objects.filter(action=action)
    if outcome is not None:
        events = events.filter(outcome=outcome)
    deadline = time.monotonic() + seconds
    while (found := events.first()) is None:
        assert time.monotonic() < deadline, f"no {action} event ({outcome or 'any outcome'})"
        time.sleep(0.2)
    return found
