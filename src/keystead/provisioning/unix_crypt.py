"""SHA-512 crypt (``$6$…``) through the system's libcrypt, for ``{CRYPT}`` values.

The hash that OpenLDAP verifies with the system's ``crypt(3)`` and that Linux keeps
in ``/etc/shadow``. Python's ``crypt`` module was only a wrapper of this library,
and is gone from Python 3.13; the library (libxcrypt on Debian) stays, and makes
the salt too (``crypt_gensalt`` draws it from the operating system's randomness).
Both functions answer in static storage, hence the lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

from keystead.secret import Secret

_lock = threading.Lock()
_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                    ctypes.c_int]


def crypt(password: str, setting: str) -> str | None:
    """``crypt(3)`` of ``password`` with ``setting`` (a salt, or a whole stored hash to
    check against); None if the library refuses it. A NUL would end the C string early
    and hash only what comes before it, so it is refused."""
    if "\x00" in password or "\x00" in setting:
        raise ValueError("A password for crypt(3) cannot contain a NUL character.")
    with _lock:
        answer = _libcrypt.crypt(password.encode(), setting.encode())
    # libxcrypt answers a refusal with NULL or with a value starting with '*'.
    return answer.decode("ascii") if answer and not answer.startswith(b"*") else None


def sha512_crypt(password: Secret) -> str:
    """A new ``$6$`` hash of ``password`` with a fresh random salt (default rounds)."""
    with _lock:
        salt = _libcrypt.crypt_gensalt(b"$6$", 0, None, 0)
    hashed = crypt(password.reveal(), salt.decode("ascii")) if salt else None
    if hashed is None:
        raise RuntimeError("The system's libcrypt cannot make SHA-512 crypt hashes.")
    return hashed
