"""Which local account a name typed at the sign-in prompt is.

A person may type their local account name, or their Keystead email or user name. The
device's login-name mapping (from Keystead) says how the two relate:

- ``local``: the local account name *is* the Keystead user name. A typed email names a
  Keystead account; which local account that is, only Keystead can say (the user name in
  its answer), so the agent asks, and remembers the answer for the times Keystead cannot
  be reached.
- ``email``: the local account name @ the email domain is the Keystead email, so
  ``ada@example.com`` is the local account ``ada`` without asking anyone.

No I/O here beyond what the caller passes in, so the rule is tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from keystead_agent.config import Config


def local_name(config: Config, typed: str, *, exists: Callable[[str], bool],
               remembered: Callable[[str], str | None]) -> str | None:
    """The local account ``typed`` names without asking Keystead, or None when only
    Keystead's answer can tell (a Keystead email under the ``local`` mapping)."""
    typed = typed.strip()
    if "@" not in typed or exists(typed):
        return typed
    name, _, domain = typed.rpartition("@")
    if config.login_name == "email" and config.email_domain \
            and domain.lower() == config.email_domain.lower() and name:
        return name
    return remembered(typed)


def needs_keystead(config: Config, typed: str) -> bool:
    """Whether Keystead may say which local account ``typed`` is: only an email, under the
    ``local`` mapping (under ``email``, another domain is no account of this computer)."""
    return "@" in typed and config.login_name == "local"


def keystead_name(config: Config, typed: str, user: str) -> str:
    """The name to sign in to Keystead with: what was typed if it is an email (Keystead
    accepts its email or user name), otherwise the mapping applied to the local name."""
    return typed.strip() if "@" in typed else config.keystead_name(user)
