"""What the agent keeps about passwords, and how.

- The *verifier* (both modes): a scrypt hash per user, so that when Keystead is
  unreachable the current password still lets the person in and a wrong one is refused.
- The *store* (store mode only): the password itself, encrypted with Fernet (AES-128-CBC
  + HMAC-SHA256) under a key file only root can read; used as the old local password
  when the Keystead password changes, so the person is not asked for it.
- The *last set* shadow hash per user: what the agent last wrote, to notice a local change.

Every file is mode 0600 and written whole; none holds a password in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from keystead_agent.files import read_json, write_json, write_private

# scrypt at 2^15 x 8 x 1: about 32 MiB and tens of milliseconds a check.
_N, _R, _P = 2**15, 8, 1
_lock = threading.Lock()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024,
                          dklen=32)


class Vault:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.verifiers = state / "verifiers.json"
        self.store_file = state / "passwords.json"
        self.key_file = state / "store.key"
        self.state_file = state / "state.json"
        self.tokens_file = state / "tokens.json"

    # ------------------------------------------------------------------ verifier

    def remember(self, user: str, password: str) -> None:
        salt = os.urandom(16)
        entry = {"salt": base64.b64encode(salt).decode(), "n": _N, "r": _R, "p": _P,
                 "hash": base64.b64encode(_scrypt(password, salt, _N, _R, _P)).decode()}
        with _lock:
            data = read_json(self.verifiers, {})
            data[user] = entry
            write_json(self.verifiers, data)

    def matches(self, user: str, password: str) -> bool | None:
        """True or False; None when nothing is remembered for ``user``."""
        entry = read_json(self.verifiers, {}).get(user)
        if entry is None:
            return None
        found = _scrypt(password, base64.b64decode(entry["salt"]), entry["n"], entry["r"],
                        entry["p"])
        return hmac.compare_digest(found, base64.b64decode(entry["hash"]))

    def known(self, user: str) -> bool:
        return user in read_json(self.verifiers, {})

    # ------------------------------------------------------------------ store

    def _fernet(self) -> Fernet:
        """The store's key, made on first use. Made once whoever asks at the same time
        (threads of the daemon, or another process): the new key is written whole under a
        temporary name and linked into place, which fails if a key is already there; the
        one who loses that race uses the winner's key, so nothing is encrypted under a
        key that is then replaced."""
        try:
            return Fernet(self.key_file.read_bytes())
        except FileNotFoundError:
            pass
        write_private(self.key_file, Fernet.generate_key(), keep_existing=True)
        return Fernet(self.key_file.read_bytes())

    def store(self, user: str, password: str) -> None:
        with _lock:
            sealed = self._fernet().encrypt(password.encode()).decode()
            data = read_json(self.store_file, {})
            data[user] = sealed
            write_json(self.store_file, data)

    def stored(self, user: str) -> str | None:
        sealed = read_json(self.store_file, {}).get(user)
        if sealed is None:
            return None
        try:
            return self._fernet().decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None

    def forget_stored(self, user: str) -> None:
        with _lock:
            data = read_json(self.store_file, {})
            if data.pop(user, None) is not None:
                write_json(self.store_file, data)

    def keep_token(self, user: str, token: str) -> None:
        """The refresh token of the person's last sign-in, encrypted like the store."""
        with _lock:
            data = read_json(self.tokens_file, {})
            if token:
                data[user] = self._fernet().encrypt(token.encode()).decode()
            else:
                data.pop(user, None)
            write_json(self.tokens_file, data)

    def token(self, user: str) -> str | None:
        sealed = read_json(self.tokens_file, {}).get(user)
        try:
            return self._fernet().decrypt(sealed.encode()).decode() if sealed else None
        except InvalidToken:
            return None

    def users(self) -> list[str]:
        """The local accounts that signed in with Keystead here."""
        return sorted(read_json(self.verifiers, {}))

    # ------------------------------------------------------------------ state

    def state_of(self) -> dict:
        return read_json(self.state_file, {})

    def update_state(self, **values) -> None:
        with _lock:
            data = read_json(self.state_file, {})
            data.update(values)
            write_json(self.state_file, data)

    def user_state(self, user: str) -> dict:
        return self.state_of().get("users", {}).get(user, {})

    def set_user_state(self, user: str, **values) -> None:
        with _lock:
            data = read_json(self.state_file, {})
            data.setdefault("users", {}).setdefault(user, {}).update(values)
            write_json(self.state_file, data)

    # ------------------------------------------------------------------ sign-in names

    def alias(self, typed: str) -> str | None:
        """The local account a Keystead sign-in name led to before, or None."""
        return self.state_of().get("aliases", {}).get(typed.strip().lower())

    def keep_alias(self, typed: str, user: str) -> None:
        """Remember that ``typed`` (a Keystead email or user name) is local ``user``, so the
        name also works when Keystead cannot be reached."""
        with _lock:
            data = read_json(self.state_file, {})
            data.setdefault("aliases", {})[typed.strip().lower()] = user
            write_json(self.state_file, data)
