"""A real OpenLDAP ``slapd`` for the LDAP source tests.

The server runs from a temporary directory: ``slapadd`` loads the directory
described by a ``slapd.conf`` written here, ``slaptest`` converts that file
to ``cn=config``, and ``slapd`` listens on two free loopback ports, one for
``ldap://`` (plain and StartTLS) and one for ``ldaps://``. Its certificate is
issued by a CA made here, so the tests can trust exactly that CA, or another
one to see a TLS failure. The ppolicy overlay locks an account after a few
failed binds and asks for a change after an administrator reset.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ldap
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SLAPTEST = "/usr/sbin/slaptest"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=example,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "root-Secret-4410"
SERVICE_DN = f"cn=keystead,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "service-Secret-7731"
PEOPLE_DN = f"ou=people,{BASE_DN}"
MAX_FAILURES = 3
#: People in the directory: uid -> (given name, family name, password).
PEOPLE = {
    "ada": ("Ada", "Lovelace", "ada-Password-1815"),
    "alan": ("Alan", "Turing", "alan-Password-1912"),
    "locked": ("Lock", "Smith", "locked-Password-3321"),
    "reset": ("Reset", "Jones", "reset-Password-9090"),
    "twin1": ("Twin", "One", "twin-Password-0001"),
    "twin2": ("Twin", "Two", "twin-Password-0002"),
    "grace": ("Grace", "Hopper", "grace-Password-1906"),
    "expired": ("Old", "Timer", "expired-Password-1999"),
}
#: Grace sign-ins the "grace" person's policy allows after expiry.
GRACE_LOGINS = 3
#: People under a policy whose passwords expired long ago: uid -> policy.
EXPIRED_POLICIES = {"grace": "cn=grace", "expired": "cn=expire"}
#: Both twins share this mail, so a lookup by ``mail`` finds two entries.
TWIN_MAIL = "twins@example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA and the PEM of a server certificate it issued for ``localhost``."""

    ca_pem: str
    cert_pem: str
    key_pem: str


def make_ca(name: str, *, host: str = "localhost", address: str = "127.0.0.1",
            now: datetime.datetime | None = None,
            key_format: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
            ) -> CertificateAuthority:
    """A fresh CA plus a server certificate for ``host`` and the IP ``address``, valid
    around ``now``. A ``host`` that is itself an IP address is named only as one."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(_names(host, address)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return CertificateAuthority(
        ca_pem=ca_cert.public_bytes(pem).decode(),
        cert_pem=cert.public_bytes(pem).decode(),
        key_pem=key.private_bytes(pem, key_format, serialization.NoEncryption()).decode(),
    )


def _names(host: str, address: str) -> list[x509.GeneralName]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(address))]
    return [x509.IPAddress(ipaddress.ip_address(host))]


@dataclass(frozen=True)
class Slapd:
    """A running slapd: where it listens and what it holds."""

    root: Path
    ldap_port: int
    ldaps_port: int
    ca_pem: str
    process: subprocess.Popen

    # Not "localhost": libldap checks the certificate against the reverse-resolved name then.
    host = "127.0.0.1"
    base_dn = BASE_DN
    root_dn = ROOT_DN
    root_password = ROOT_PASSWORD
    service_dn = SERVICE_DN
    service_password = SERVICE_PASSWORD
    max_failures = MAX_FAILURES

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.ldap_port}"

    def admin(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the directory manager, for test set-up."""
        conn = ldap.initialize(self.ldap_url)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def unlock(self, uid: str) -> None:
        """Clear ppolicy's lockout state of ``uid`` so tests stay independent."""
        conn = self.admin()
        try:
            conn.modify_s(f"uid={uid},{PEOPLE_DN}", [
                (ldap.MOD_REPLACE, "pwdAccountLockedTime", None)])
        except ldap.NO_SUCH_ATTRIBUTE:
            pass
        finally:
            conn.unbind_s()


def _slapd_conf(root: Path, ldap_port: int, ldaps_port: int) -> str:
    schemas = "\n".join(f"include {SCHEMA_DIR / n}.schema"
                        for n in ("core", "cosine", "nis", "inetorgperson"))
    return f"""\
{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb.la
moduleload ppolicy.la
pidfile {root}/slapd.pid
TLSCACertificateFile {root}/ca.pem
TLSCertificateFile {root}/server.pem
TLSCertificateKeyFile {root}/server.key

database config
rootdn "{ROOT_DN}"

database mdb
maxsize 104857600
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {root}/data
index objectClass,uid,mail eq
# People change their own password, the service account resets anyone's (writable mode).
access to attrs=userPassword
  by self write
  by dn.exact="{SERVICE_DN}" write
  by anonymous auth
  by * none
access to attrs=pwdReset
  by dn.exact="{SERVICE_DN}" write
  by * read
access to *
  by * read
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{BASE_DN}"
ppolicy_use_lockout
"""


def _directory_ldif() -> str:
    entries = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: example\no: Example\n",
        f"dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: ou=policies,{BASE_DN}\nobjectClass: organizationalUnit\nou: policies\n",
        f"dn: cn=default,ou=policies,{BASE_DN}\nobjectClass: device\n"
        "objectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\n"
        f"pwdLockout: TRUE\npwdMaxFailure: {MAX_FAILURES}\npwdLockoutDuration: 0\n"
        "pwdFailureCountInterval: 0\npwdMustChange: TRUE\npwdAllowUserChange: TRUE\n",
        f"dn: cn=grace,ou=policies,{BASE_DN}\nobjectClass: device\n"
        "objectClass: pwdPolicy\ncn: grace\npwdAttribute: userPassword\npwdMaxAge: 60\n"
        f"pwdGraceAuthNLimit: {GRACE_LOGINS}\n",
        f"dn: cn=expire,ou=policies,{BASE_DN}\nobjectClass: device\n"
        "objectClass: pwdPolicy\ncn: expire\npwdAttribute: userPassword\npwdMaxAge: 60\n"
        "pwdGraceAuthNLimit: 0\n",
        f"dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\n"
        f"cn: keystead\nsn: service\nuserPassword: {SERVICE_PASSWORD}\n",
    ]
    for uid, (given, family, password) in PEOPLE.items():
        mail = TWIN_MAIL if uid.startswith("twin") else f"{uid}@example.test"
        entry = (f"dn: uid={uid},{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                 f"cn: {given} {family}\ngivenName: {given}\nsn: {family}\nmail: {mail}\n"
                 f"userPassword: {password}\n")
        if uid == "reset":
            entry += "pwdReset: TRUE\n"
        if uid in EXPIRED_POLICIES:
            entry += (f"pwdPolicySubentry: {EXPIRED_POLICIES[uid]},ou=policies,{BASE_DN}\n"
                      "pwdChangedTime: 20200101000000Z\n")
        entries.append(entry)
    return "\n".join(entries)


def wait_until_answering(process: subprocess.Popen, root: Path, url: str,
                         deadline_seconds: float = 30.0) -> None:
    """Poll ``url`` with an anonymous root-DSE read until slapd answers or has exited."""
    end = time.monotonic() + deadline_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with status {process.returncode}: "
                               f"{(root / 'slapd.log').read_text()[-2000:]}")
        conn = ldap.initialize(url)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 1)
        try:
            conn.search_s("", ldap.SCOPE_BASE, attrlist=["namingContexts"])
            return
        except ldap.SERVER_DOWN:
            if time.monotonic() > end:
                raise RuntimeError("slapd did not answer in time") from None
            time.sleep(0.1)
        finally:
            conn.unbind_s()


def _run(*command: str) -> None:
    """Run a set-up tool; on failure, raise with its own words so the cause is visible."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def start_slapd(authority: CertificateAuthority | None = None) -> Slapd:
    """Configure, load and start a slapd; the caller must call :func:`stop_slapd`.

    ``authority`` gives the server another certificate (an expired one, say).
    """
    root = Path(tempfile.mkdtemp(prefix="keystead-slapd-"))
    try:
        ldap_port, ldaps_port = free_port(), free_port()
        authority = authority or make_ca("Keystead test CA")
        (root / "ca.pem").write_text(authority.ca_pem)
        (root / "server.pem").write_text(authority.cert_pem)
        (root / "server.key").write_text(authority.key_pem)
        (root / "server.key").chmod(0o600)
        # 127.0.0.2 is not in the certificate: it lets tests see a hostname mismatch.
        urls = (f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/ "
                f"ldaps://127.0.0.2:{ldaps_port}/")
        process = launch(root, _slapd_conf(root, ldap_port, ldaps_port), _directory_ldif(), urls,
                         answer_url=f"ldap://127.0.0.1:{ldap_port}/")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Slapd(root=root, ldap_port=ldap_port, ldaps_port=ldaps_port, ca_pem=authority.ca_pem,
                 process=process)


def stop_slapd(server: Slapd) -> None:
    """Stop the process (kill it if it lingers) and remove its directory."""
    stop_process(server.process, server.root)


def launch(root: Path, conf: str, ldif: str, urls: str, *, answer_url: str,
           base_dn: str = BASE_DN, quick: bool = False) -> subprocess.Popen:
    """Load ``ldif`` into a directory configured by ``conf`` under ``root``, convert the
    configuration to ``cn=config``, start slapd listening on ``urls`` and wait until it
    answers on ``answer_url`` (if it does not, it is stopped and ``root`` removed).

    ``quick`` skips slapadd's consistency checks (a load of thousands of entries then
    takes a second).
    """
    (root / "data").mkdir()
    (root / "slapd.d").mkdir()
    (root / "slapd.conf").write_text(conf)
    (root / "data.ldif").write_text(ldif)
    # Load first: slaptest opens the database read-only, so it must exist to convert.
    _run(SLAPADD, *(["-q"] if quick else []), "-f", str(root / "slapd.conf"), "-b", base_dn,
         "-l", str(root / "data.ldif"))
    _run(SLAPTEST, "-f", str(root / "slapd.conf"), "-F", str(root / "slapd.d"))
    log = (root / "slapd.log").open("w")
    process = subprocess.Popen([SLAPD, "-d", "0", "-F", str(root / "slapd.d"), "-h", urls],
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        wait_until_answering(process, root, answer_url)
    except BaseException:
        stop_process(process, root)
        raise
    return process


def stop_process(process: subprocess.Popen, root: Path) -> None:
    """Stop a slapd (kill it if it lingers) and remove its directory."""
    try:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
