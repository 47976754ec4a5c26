"""Reading Keystead's configuration from ``KEYSTEAD_*`` environment variables.

Kept free of Django imports so the CLI and the settings module share one
reading of the environment, and so each rule can be tested on plain values.
Every variable read here is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(ValueError):
    """A configuration value is present but unusable; the message says how to fix it."""


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None,
            maximum: int | None = None, hint: str = "") -> int:
    """A whole number from the environment; outside ``minimum``..``maximum`` refused,
    ``hint`` said then."""
    raw = env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is less than {minimum}{hint}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is more than {maximum}{hint}.")
    return value


def data_dir() -> Path:
    """Where the embedded database, the generated secret key and static files live."""
    return Path(env("KEYSTEAD_DATA_DIR", "var")).resolve()


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'keystead.sqlite3'}"


def _owner_only_directory(directory: Path) -> None:
    """Create ``directory`` (and its parents) readable by its owner only, if it is missing."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)


def create_owner_only(path: Path) -> None:
    """Create an empty file readable by its owner only (0600), in an owner-only directory,
    unless it exists. For the embedded database: SQLite then opens it as it is and gives
    its journal files the same mode."""
    if path.exists() or str(path) == ":memory:":
        return
    _owner_only_directory(path.parent)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def load_or_create_secret_key(directory: Path) -> str:
    """Return the persistent secret key, generating it (mode 0600) on first run.

    A key that changes between restarts would sign everyone out and invalidate
    every signed link, so it is written once and reused.
    """
    path = directory / "secret_key"
    if path.exists():
        return path.read_text().strip()
    _owner_only_directory(directory)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class EmailSettings:
    backend: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    default_from: str = "keystead@localhost"
    configured: bool = False


def parse_email_url(url: str) -> EmailSettings:
    """Turn ``KEYSTEAD_EMAIL_URL`` into Django e-mail settings.

    Accepted forms: ``console://`` (development: mail is printed),
    ``smtp://user:pass@host:25``, ``smtp+starttls://...:587``,
    ``smtps://...:465``, and an optional ``?from=keystead@example.com``.
    """
    if not url or url == "console://":
        return EmailSettings(backend="django.core.mail.backends.console.EmailBackend")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    sender = query.get("from", ["keystead@localhost"])[0]
    schemes = {
        "smtp": (25, False, False),
        "smtp+starttls": (587, True, False),
        "smtps": (465, False, True),
    }
    if parts.scheme not in schemes:
        raise ConfigError(
            f"KEYSTEAD_EMAIL_URL scheme {parts.scheme!r} is not supported; "
            "use console://, smtp://, smtp+starttls:// or smtps://."
        )
    if not parts.hostname:
        raise ConfigError("KEYSTEAD_EMAIL_URL has no host; write e.g. smtp://mail.example.com:25.")
    default_port, use_tls, use_ssl = schemes[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:  # its message would repeat what stands there: part of a password
        raise ConfigError(
            "KEYSTEAD_EMAIL_URL has a port that is not a number, or a user name or password "
            "holding a character that must be percent-encoded (/ ? # @ :); encode it, "
            "for example / as %2F.") from None
    return EmailSettings(
        backend="django.core.mail.backends.smtp.EmailBackend",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        default_from=sender,
        configured=True,
    )


def hosts_from_base_url(base_url: str) -> list[str]:
    host = urlsplit(base_url).hostname
    if not host:
        raise ConfigError(
            f"KEYSTEAD_BASE_URL={base_url!r} has no host; write e.g. https://id.example.com."
        )
    return [host]


def origin_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"
