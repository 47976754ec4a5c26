"""A real Active Directory for the tests: Samba's AD domain controller.

``samba-tool domain provision`` writes a fresh domain into a temporary
directory, and ``samba`` serves it on its own loopback address, 127.0.0.2,
because a domain controller's ports are fixed (389 for LDAP and StartTLS, 636
for LDAPS). Only the LDAP service runs: the tests need nothing else, and no
other fixed port is taken.

Samba would make a self-signed certificate for its host name, which does not
match the address the tests connect to; the fixture gives it one issued by a
CA made here for 127.0.0.2 instead, so the tests trust exactly that CA.

The people in the domain each produce one of AD's refusals: must change at
next sign-in (773), locked out after failed binds (775), password expired
(532), disabled (533) and account expired (701). Samba will not set an old
``pwdLastSet`` through LDAP, so the expired password is made by writing that
one attribute into the stopped domain's database with Samba's own ``ldb``
bindings (Debian's system Python), before the server starts. The service
account may reset the people's passwords, delegated as the documentation
tells administrators to.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import ldap
from cryptography.hazmat.primitives import serialization

from ..ldap.slapd import CertificateAuthority, make_ca

SAMBA = "/usr/sbin/samba"
SAMBA_TOOL = "/usr/bin/samba-tool"
SYSTEM_PYTHON = "/usr/bin/python3"  # has Samba's own Python bindings (python3-samba)

HOST = "127.0.0.2"
LDAP_PORT = 389
LDAPS_PORT = 636
REALM = "KEYSTEAD.TEST"
DOMAIN = "KEYSTEAD"
BASE_DN = "DC=keystead,DC=test"
USERS_DN = f"CN=Users,{BASE_DN}"
ADMIN_PASSWORD = "Admin-Secret-4410"
SERVICE_USER = "svc-keystead"
SERVICE_PASSWORD = "Service-Secret-7731"
#: Failed binds after which AD locks an account (the domain's lockout threshold).
LOCKOUT_THRESHOLD = 5
#: Expired passwords were last set on 2020-01-01 (Windows FILETIME: 100 ns since 1601).
LONG_AGO = 132223104000000000

#: People in the domain: sAMAccountName -> (given name, family name, password).
PEOPLE = {
    "ada": ("Ada", "Lovelace", "Ada-Password-1815"),
    "guesser": ("Gus", "Guesser", "Guesser-Password-4242"),
    "mustchange": ("Must", "Change", "Must-Change-Password-773"),
    "locked": ("Lock", "Smith", "Locked-Password-775"),
    "expiredpw": ("Old", "Timer", "Expired-Password-532"),
    "disabled": ("Dis", "Abled", "Disabled-Password-533"),
    "expiredacct": ("Gone", "Away", "Expired-Account-701"),
    "resetme": ("Reset", "Jones", "Reset-Password-1001"),
    "changeme": ("Change", "Jones", "Change-Password-2002"),
    "signin": ("Sign", "In", "Sign-In-Password-3003"),
    "wbchange": ("Writes", "Own", "Write-Back-Password-4004"),
    "wbreset": ("Gets", "Reset", "Write-Back-Password-5005"),
}
#: The "Reset Password" extended right, and the class it is granted on (user).
RESET_PASSWORD_RIGHT = "00299570-246d-11d0-a768-00aa006e0529"
USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"


def make_authority(name: str = "Keystead Samba test CA") -> CertificateAuthority:
    """A CA and a server certificate it issued for Samba's IP address (the key in the
    traditional OpenSSL form, which Samba's TLS reads)."""
    return make_ca(name, host=HOST, key_format=serialization.PrivateFormat.TraditionalOpenSSL)


@dataclass(frozen=True)
class Samba:
    """A running Samba AD DC: where it listens and who is in it."""

    root: Path
    ca_pem: str
    pid: int

    host = HOST
    ldap_port = LDAP_PORT
    ldaps_port = LDAPS_PORT
    realm = REALM
    base_dn = BASE_DN
    users_dn = USERS_DN
    admin_password = ADMIN_PASSWORD
    service_user = SERVICE_USER
    service_password = SERVICE_PASSWORD

    @property
    def upn_suffix(self) -> str:
        return "@" + REALM.lower()

    @property
    def admin_dn(self) -> str:
        return f"CN=Administrator,{USERS_DN}"

    @property
    def service_dn(self) -> str:
        return f"CN={SERVICE_USER},{USERS_DN}"

    def dn(self, name: str) -> str:
        return f"CN={name},{USERS_DN}"

    def connect(self, *, starttls: bool = False) -> ldap.ldapobject.LDAPObject:
        """An unbound connection over LDAPS (or StartTLS) trusting this server's CA."""
        url = f"ldap://{HOST}:{LDAP_PORT}" if starttls else f"ldaps://{HOST}:{LDAPS_PORT}"
        conn = ldap.initialize(url)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.root / "tls" / "ca.pem"))
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        if starttls:
            conn.start_tls_s()
        return conn

    def admin(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the domain's Administrator, for test set-up."""
        conn = self.connect()
        conn.simple_bind_s(self.admin_dn, ADMIN_PASSWORD)
        return conn

    def can_bind(self, name: str, password: str) -> bool:
        conn = self.connect()
        try:
            conn.simple_bind_s(self.dn(name), password)
            return True
        except ldap.INVALID_CREDENTIALS:
            return False
        finally:
            conn.unbind_s()


def _run(*command: str) -> str:
    """Run a set-up tool; on failure, raise with its own words so the cause is visible."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} {command[1:3]} failed: "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def _ensure_ports_free() -> None:
    """Refuse to start if something already listens on 127.0.0.2:389/636."""
    for port in (LDAP_PORT, LDAPS_PORT):
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((HOST, port)) == 0:
                raise RuntimeError(f"Something already listens on {HOST}:{port}; stop it "
                                   "(e.g. the Debian samba-ad-dc service) before these tests.")


def _provision(root: Path, authority: CertificateAuthority) -> Path:
    tls = root / "tls"
    tls.mkdir()
    (tls / "ca.pem").write_text(authority.ca_pem)
    (tls / "cert.pem").write_text(authority.cert_pem)
    (tls / "key.pem").write_text(authority.key_pem)
    (tls / "key.pem").chmod(0o600)  # Samba refuses a key others can read
    options = {
        # A /8 mask: 127.0.0.2 is not an interface address of its own, only part of lo's net.
        "interfaces": f"{HOST}/8",
        "bind interfaces only": "yes",
        "log file": f"{root}/samba.log",
        "pid directory": str(root),
        "ncalrpc dir": f"{root}/ncalrpc",
        "tls enabled": "yes",
        # A password set over LDAP must not also run passwd(1) for a local account here.
        "unix password sync": "no",
        "tls keyfile": str(tls / "key.pem"),
        "tls certfile": str(tls / "cert.pem"),
        "tls cafile": str(tls / "ca.pem"),
    }
    _run(SAMBA_TOOL, "domain", "provision", "--use-rfc2307", f"--realm={REALM}",
         f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE",
         f"--adminpass={ADMIN_PASSWORD}", f"--targetdir={root}", f"--host-ip={HOST}",
         *(f"--option={k} = {v}" for k, v in options.items()))
    conf = root / "etc" / "smb.conf"
    # Only the LDAP service: the others would take more fixed ports (88, 135, 445...).
    lines = [("\tserver services = ldap" if line.strip().startswith("server services") else line)
             for line in conf.read_text().splitlines()]
    # Samba accepts the previous password for an hour after a change (Windows does so for
    # NTLM only); the tests check that a changed password is gone at once. Provisioning
    # does not keep this option, so it is added here.
    lines.insert(lines.index("[global]") + 1, "\told password allowed period = 0")
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _populate(conf: Path) -> None:
    """Domain policy and people, written to the database before the server starts."""
    config = f"--configfile={conf}"
    _run(SAMBA_TOOL, "domain", "passwordsettings", "set", config, "--min-pwd-age=0",
         f"--account-lockout-threshold={LOCKOUT_THRESHOLD}")
    _run(SAMBA_TOOL, "user", "create", config, SERVICE_USER, SERVICE_PASSWORD)
    for name, (given, family, password) in PEOPLE.items():
        extra = ["--must-change-at-next-login"] if name == "mustchange" else []
        _run(SAMBA_TOOL, "user", "create", config, name, password, f"--given-name={given}",
             f"--surname={family}", f"--mail-address={name}@{REALM.lower()}",
             "--use-username-as-cn", *extra)
    _run(SAMBA_TOOL, "user", "disable", config, "disabled")
    # The service account may reset the passwords of the users in CN=Users, as
    # docs/ldap.md (Active Directory) says to delegate it (and nothing more).
    shown = _run(SAMBA_TOOL, "user", "show", config, SERVICE_USER, "--attributes=objectSid")
    sid = next(line.split(":", 1)[1].strip() for line in shown.splitlines()
               if line.startswith("objectSid:"))
    _run(SAMBA_TOOL, "dsacl", "set", config, f"--objectdn={USERS_DN}",
         f"--trusteedn=CN={SERVICE_USER},{USERS_DN}",
         f"--sddl=(OA;CI;CR;{RESET_PASSWORD_RIGHT};{USER_CLASS};{sid})")
    _run(SYSTEM_PYTHON, "-c", _OLD_PASSWORD_SCRIPT, str(conf.parent.parent / "private"),
         f"CN=expiredpw,{USERS_DN}", str(LONG_AGO))


# Written without Samba's modules (which allow only 0 or -1 in pwdLastSet) straight into
# the domain partition; the server is not running yet, so nothing holds a stale copy.
_OLD_PASSWORD_SCRIPT = """
import sys, ldb
private, dn, when = sys.argv[1:]
db = ldb.Ldb(private + "/sam.ldb.d/DC=KEYSTEAD,DC=TEST.ldb", options=["modules:"])
msg = ldb.Message(ldb.Dn(db, dn))
msg["pwdLastSet"] = ldb.MessageElement(when, ldb.FLAG_MOD_REPLACE, "pwdLastSet")
db.modify(msg)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _server_pid(root: Path) -> int | None:
    try:
        return int((root / "samba.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _log_tail(root: Path) -> str:
    log = root / "samba.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _answers(server: Samba) -> bool:
    try:
        conn = server.connect()
        try:
            conn.search_s("", ldap.SCOPE_BASE, attrlist=["defaultNamingContext"])
            return True
        finally:
            conn.unbind_s()
    except ldap.SERVER_DOWN:
        return False


def _wait_until_answering(root: Path, ca_pem: str, deadline_seconds: float = 60.0) -> Samba:
    """Poll LDAPS with a root-DSE read until Samba answers, or fail with its log."""
    end = time.monotonic() + deadline_seconds
    while True:
        pid = _server_pid(root)
        if pid is not None:
            server = Samba(root=root, ca_pem=ca_pem, pid=pid)
            if _answers(server):
                return server
            if not _alive(pid):
                raise RuntimeError(f"samba exited: {_log_tail(root)}")
        if time.monotonic() > end:
            raise RuntimeError(f"samba did not answer on LDAPS in time: {_log_tail(root)}")
        time.sleep(0.2)


def _after_start(server: Samba) -> None:
    """What needs the running server: an expired account and a locked one."""
    admin = server.admin()
    try:
        admin.modify_s(server.dn("expiredacct"),
                       [(ldap.MOD_REPLACE, "accountExpires", [str(LONG_AGO).encode()])])
    finally:
        admin.unbind_s()
    for _ in range(LOCKOUT_THRESHOLD):
        assert not server.can_bind("locked", "not-the-password")


def start_samba() -> Samba:
    """Provision and start a Samba AD DC; the caller must call :func:`stop_samba`.

    Samba runs as a daemon (not a child of this process), so that another
    test process can stop it when the one that started it has ended.
    """
    _ensure_ports_free()
    root = Path(tempfile.mkdtemp(prefix="keystead-samba-"))
    try:
        authority = make_authority()
        conf = _provision(root, authority)
        _populate(conf)
        _run(SAMBA, "-M", "single", "-s", str(conf))
        server = _wait_until_answering(root, authority.ca_pem)
    except BaseException:
        pid = _server_pid(root)
        if pid is not None:
            stop_samba(Samba(root=root, ca_pem="", pid=pid))
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        _after_start(server)
    except BaseException:
        stop_samba(server)
        raise
    return server


def stop_samba(server: Samba) -> None:
    """Stop the server (kill it if it lingers) and remove its directory."""
    try:
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            if not _alive(server.pid):
                break
            os.kill(server.pid, sig)
            end = time.monotonic() + wait
            while _alive(server.pid) and time.monotonic() < end:
                time.sleep(0.1)
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


# One server for every test process of a run. The address and ports are fixed, so two
# xdist workers cannot each start their own; the first starts it, the last one out
# stops it. (``--dist loadgroup`` would keep these tests on one worker, but
# pytest-xdist 3.8 stopped grouping on pytest 9.2: pytest-dev/pytest-xdist#1386.)
# Another test run on the same machine waits until this run is done with it: the
# tests change people's passwords, so two runs must not share one server.
_LOCK = Path(tempfile.gettempdir()) / "keystead-samba.lock"
_STATE = Path(tempfile.gettempdir()) / "keystead-samba.json"
#: How long a run waits for another run's tests to finish with the server.
WAIT_FOR_OTHER_RUN = 1800.0


def _run_id() -> str:
    """The same for every worker of one pytest-xdist run, different for the next run."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"


@contextmanager
def _exclusive() -> Iterator[None]:
    with _LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state() -> tuple[Samba | None, list[int], str]:
    try:
        state = json.loads(_STATE.read_text())
        server = Samba(root=Path(state["root"]), ca_pem=state["ca_pem"], pid=state["pid"])
        return server, [pid for pid in state["holders"] if _alive(pid)], state.get("run", "")
    except (OSError, ValueError, KeyError, TypeError):
        return None, [], ""


def _write_state(server: Samba, holders: list[int], run: str) -> None:
    state = {**asdict(server), "root": str(server.root), "holders": holders, "run": run}
    _STATE.write_text(json.dumps(state))


def _join_or_start() -> Samba | None:
    """This run's server (started if need be), or None while another run holds one."""
    with _exclusive():
        server, holders, run = _read_state()
        if server is not None and holders and run != _run_id() and _alive(server.pid):
            return None
        if server is not None and not (holders and _alive(server.pid) and _answers(server)):
            stop_samba(server)  # left behind by a run that was killed
            server, holders = None, []
        if server is None:
            server = start_samba()
        _write_state(server, [*holders, os.getpid()], _run_id())
        return server


@contextmanager
def shared_samba() -> Iterator[Samba]:
    """The run's Samba, started if no test process holds one, stopped by the last."""
    end = time.monotonic() + WAIT_FOR_OTHER_RUN
    while (server := _join_or_start()) is None:
        if time.monotonic() > end:
            raise RuntimeError(f"Another test run has used the Samba AD DC on {HOST} for "
                               f"over {WAIT_FOR_OTHER_RUN:g}s (see {_STATE}).")
        time.sleep(2)
    try:
        yield server
    finally:
        with _exclusive():
            _, holders, run = _read_state()
            holders = [pid for pid in holders if pid != os.getpid()]
            if holders:
                _write_state(server, holders, run)
            else:
                _STATE.unlink(missing_ok=True)
                stop_samba(server)
