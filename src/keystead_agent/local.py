"""The computer's own accounts: read through the system's files and libraries, changed only
through the system's own tool (``chpasswd``, the password on standard input)."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import json
import pwd
import re
import subprocess
import threading
from pathlib import Path

SHADOW = Path("/etc/shadow")
SYSTEM_PYTHON = "/usr/bin/python3"
CHPASSWD = "/usr/sbin/chpasswd"
USERADD = "/usr/sbin/useradd"

#: The words shown when the local password-quality policy refuses the Keystead password.
CONFLICT_MESSAGE = (
    "Your Keystead password does not meet this computer's local password policy "
    "(pwquality: {reason}), so the local password was not changed. Please contact your IT "
    "administrator: the computer's pwquality settings are stricter than Keystead's password "
    "policy; relax /etc/security/pwquality.conf or make Keystead's policy at least as strict.")

# Asks libpwquality (through Debian's python3-pwquality, in the system Python) whether the
# password passes; the password arrives on standard input, never on the command line.
_PWQUALITY_CHECK = """
import json, sys, pwquality
data = json.loads(sys.stdin.read())
settings = pwquality.PWQSettings()
settings.read_config(data["conf"]) if data["conf"] else settings.read_config()
try:
    settings.check(data["password"], None, data["user"])
except pwquality.PWQError as error:
    print(error.args[1] if len(error.args) > 1 else error.args[0])
    sys.exit(1)
"""

_crypt_lock = threading.Lock()
_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


class LocalChangeFailed(RuntimeError):
    """chpasswd refused; the message is its own (it never contains the password)."""


def exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def uid(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def shadow_hash(user: str) -> str | None:
    """The account's password hash from /etc/shadow (root only), or None."""
    for line in SHADOW.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user and len(fields) > 1:
            return fields[1]
    return None


def shadow_fingerprint(user: str) -> str:
    """A SHA-256 of the account's shadow hash: enough to notice a change, and not itself
    a hash anyone could attack."""
    return hashlib.sha256((shadow_hash(user) or "").encode()).hexdigest()


def verify(user: str, password: str) -> bool:
    """Whether ``password`` is the account's local password (libcrypt, as pam_unix does).
    A NUL would end the C string early and check only what comes before it: never a match."""
    stored = shadow_hash(user)
    if not stored or stored[0] in "!*" or "\x00" in password:
        return False
    with _crypt_lock:  # crypt() keeps its answer in static storage
        found = _libcrypt.crypt(password.encode(), stored.encode())
    return found is not None and hmac.compare_digest(found, stored.encode())


def quality_problem(user: str, password: str, conf: str = "") -> str | None:
    """Why the local pwquality policy refuses ``password`` for ``user``, or None."""
    # A fixed program and script; the password goes on standard input.
    run = subprocess.run([SYSTEM_PYTHON, "-c", _PWQUALITY_CHECK], capture_output=True,  # noqa: S603
                         text=True, timeout=30, check=False,
                         input=json.dumps({"password": password, "user": user, "conf": conf}))
    if run.returncode == 0:
        return None
    return run.stdout.strip() or "the password was refused"


def create(user: str) -> None:
    """Add the account with useradd and the system's defaults (/etc/default/useradd),
    with a home directory; its password is set separately (``set_password``)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", user):
        raise LocalChangeFailed(f"{user!r} is not a name this computer accepts for an account")
    run = subprocess.run([USERADD, "--create-home", user], capture_output=True,  # noqa: S603
                         text=True, timeout=60, check=False)
    if run.returncode != 0:
        raise LocalChangeFailed(f"useradd failed: {run.stderr.strip()[:200]}")


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be set as a local password, or None. chpasswd reads
    ``user:password`` lines as C strings: a NUL would cut the password short (the local
    password would be only what comes before it) and a line break would end the line. A
    colon is fine: chpasswd splits at the first one, in the name's end."""
    if "\x00" in password:
        return ("the password holds a NUL character, which this computer's password tools "
                "cannot take: choose a Keystead password without one")
    if "\n" in password or "\r" in password:
        return ("the password holds a line break, which this computer's password tools "
                "cannot take: choose a Keystead password without one")
    return None


def set_password(user: str, password: str) -> None:
    """Set the local password with chpasswd (``user:password`` on standard input); a
    password it cannot take whole (``password_problem``) is refused, never cut short."""
    problem = password_problem(password)
    if problem:
        raise LocalChangeFailed(problem)
    if not user or any(char in user for char in ":\n\r\x00"):
        raise LocalChangeFailed(f"{user!r} is not a local account name chpasswd can take")
    run = subprocess.run([CHPASSWD], input=f"{user}:{password}\n", capture_output=True,  # noqa: S603
                         text=True, timeout=60, check=False)
    if run.returncode != 0:
        said = run.stderr.replace(password, "********").strip()[:200]
        raise LocalChangeFailed(f"chpasswd failed: {said}")
