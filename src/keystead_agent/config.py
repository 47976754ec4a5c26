"""The agent's configuration: where it keeps things, and what enrolment handed it.

One JSON file (default ``/etc/keystead/agent.json``, mode 0600; ``--config`` or
``KEYSTEAD_AGENT_CONFIG`` name another). Enrolment writes the server's part
(device id, client id, token URL, reset URL, mode, interval, login-name mapping);
the local part (socket, state directory, log file, pwquality file) may be edited.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from keystead_agent import tls
from keystead_agent.files import read_json, write_json

DEFAULT_CONFIG = Path("/etc/keystead/agent.json")
STORE, DO_NOT_STORE = "store", "do-not-store"
#: What Keystead decides for this computer, written at enrolment ...
FROM_KEYSTEAD = ("client_id", "token_url", "userinfo_url", "reset_url", "mode",
                 "check_seconds", "login_name", "email_domain")
#: ... and what of it an administrator may change later: re-read at every check.
FOLLOWED = ("userinfo_url", "reset_url", "mode", "check_seconds", "login_name", "email_domain")
#: Keystead's values that are addresses: https, or plain http only to this computer
#: (``tls.encrypted_or_local``), so no password or token travels unencrypted.
ADDRESSES = ("token_url", "userinfo_url", "reset_url")


@dataclass
class Config:
    server: str = ""
    device_id: int = 0
    client_id: str = ""
    token_url: str = ""
    #: Where the agent reads the person's claims (user name, password change time).
    userinfo_url: str = ""
    reset_url: str = ""
    mode: str = DO_NOT_STORE
    check_seconds: int = 300
    login_name: str = "local"
    email_domain: str = ""
    socket: str = "/run/keystead/agent.sock"
    state_dir: str = "/var/lib/keystead-agent"
    log_file: str = "/var/log/keystead-agent.log"
    #: A libpwquality configuration file; empty: the system's (/etc/security/pwquality.conf).
    pwquality_conf: str = ""
    #: The D-Bus session bus of a signed-in person, for desktop notifications ({uid}: theirs).
    session_bus: str = "unix:path=/run/user/{uid}/bus"
    #: Accounts below this uid (root, system accounts) are never sent to Keystead.
    min_uid: int = 1000
    #: Local-only accounts, by name: never sent to Keystead, like those below ``min_uid``.
    local_accounts: list[str] = field(default_factory=list)
    #: Create the local account (useradd, the system's defaults) at a person's first
    #: sign-in, once Keystead has accepted their password. Off unless set.
    create_accounts: bool = False
    #: Seconds to wait for Keystead before treating it as unreachable.
    timeout: float = 10.0
    #: A PEM file of the authority that signed Keystead's certificate; empty: the usual ones.
    ca_file: str = ""

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def key_path(self) -> Path:
        return self.state / "device.key"

    @property
    def enrolled(self) -> bool:
        return bool(self.device_id and self.server and self.key_path.exists())

    def keystead_name(self, local: str) -> str:
        """The name this local account signs in to Keystead with."""
        if self.login_name == "email" and self.email_domain:
            return f"{local}@{self.email_domain}"
        return local


def config_path(given: str | None = None) -> Path:
    return Path(given or os.environ.get("KEYSTEAD_AGENT_CONFIG") or DEFAULT_CONFIG)


def load(path: Path) -> Config:
    data = read_json(path, {})
    known = {each.name for each in fields(Config)}
    return Config(**{key: value for key, value in data.items() if key in known})


def save(config: Config, path: Path) -> None:
    write_json(path, asdict(config))


#: The values Keystead may give, beyond their type: an interval of 0 (or less) would have
#: the daemon check without pause, one beyond a day overflows the wait (and Keystead
#: allows 30 to 86400); an unknown mode or mapping would be taken for another one; a
#: plain-http address of another computer would carry passwords or tokens unencrypted.
_ALLOWED = {"mode": lambda value: value in (STORE, DO_NOT_STORE),
            "check_seconds": lambda value: 1 <= value <= 86400,
            "login_name": lambda value: value in ("local", "email"),
            "token_url": tls.encrypted_or_local,
            "userinfo_url": lambda value: value == "" or tls.encrypted_or_local(value),
            "reset_url": lambda value: value == "" or tls.encrypted_or_local(value)}


def acceptable(name: str, value: object) -> bool:
    """Whether ``value`` is one Keystead may set for the setting ``name``."""
    if type(value) is not type(getattr(Config, name)):
        return False
    return _ALLOWED.get(name, lambda value: True)(value)


def follow(config: Config, answer: dict) -> dict[str, object]:
    """Take Keystead's part of the configuration from ``answer`` (``/devices/config``);
    return what changed, by name. Unknown, mistyped or out-of-range values are left as
    they were."""
    changed: dict[str, object] = {}
    if not isinstance(answer, dict):
        return changed
    for name in FOLLOWED:
        value = answer.get(name)
        if value is None or not acceptable(name, value):
            continue
        if value != getattr(config, name):
            setattr(config, name, value)
            changed[name] = value
    return changed
