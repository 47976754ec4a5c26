"""The periodic check, for every account that signed in with Keystead here: did the
Keystead password change (the refresh token kept from the last sign-in is refused, or the
``password_changed_at`` claim moved), or did the local password change outside the agent
(the shadow entry is not the one the agent last wrote)? Either way the person is told
once, on the desktop, to run ``keystead-agent sync``."""

from __future__ import annotations

import logging
import threading
import time

from keystead_agent import config as cfg
from keystead_agent import local, remote
from keystead_agent.config import STORE
from keystead_agent.notify import notify
from keystead_agent.remote import Check
from keystead_agent.signin import Agent

log = logging.getLogger("keystead_agent")
KEYSTEAD, LOCAL = "keystead", "local"


def message(reason: str, mode: str) -> tuple[str, str]:
    """The notification's summary and body."""
    if reason == LOCAL:
        return ("This computer's password was changed outside Keystead",
                "Run keystead-agent sync and give your Keystead password to bring it back.")
    asks = ("your Keystead password" if mode == STORE
            else "your Keystead password and this computer's previous password")
    return ("Your Keystead password changed",
            f"Run keystead-agent sync to use it on this computer: it asks for {asks}.")


def changed(agent: Agent, user: str) -> str | None:
    """KEYSTEAD, LOCAL, or None (in step, or Keystead unreachable: nothing is known)."""
    state = agent.vault.user_state(user)
    if state.get("last_set") and local.shadow_fingerprint(user) != state["last_set"]:
        return LOCAL
    token = agent.vault.token(user)
    if not token:
        return None
    result = remote.refresh(agent.config, token)
    if result.check is Check.UNREACHABLE:
        return None
    if result.check is not Check.RIGHT:
        agent.vault.keep_token(user, "")
        return KEYSTEAD
    agent.vault.keep_token(user, result.refresh_token or token)
    known = state.get("password_changed_at")
    if known and result.password_changed_at and result.password_changed_at != known:
        return KEYSTEAD
    return None


def check(agent: Agent, user: str) -> str | None:
    """Check one account; tell the person once per change found."""
    reason = changed(agent, user)
    now = int(time.time())
    agent.vault.update_state(last_check=now)
    agent.vault.set_user_state(user, last_check=now)
    if reason is None or agent.vault.user_state(user).get("needs_sync") == reason:
        return reason
    agent.vault.set_user_state(user, needs_sync=reason)
    agent.events.add("password-check", user=user, outcome="changed", reason=reason)
    summary, body = message(reason, agent.config.mode)
    notify(user, summary, body, agent.config.session_bus)
    agent.events.flush()
    return reason


def follow_keystead(agent: Agent) -> dict[str, object]:
    """Re-read this computer's configuration from Keystead (mode, interval, reset URL,
    login-name mapping, as an administrator may have changed them) and keep it; what
    changed. Unreachable or refused: the configuration stays as it is."""
    if not agent.config.enrolled:
        return {}
    try:
        answer = remote.signed(agent.config, "GET", "/devices/config")
    except Exception as error:  # any transport failure: try again at the next check
        log.warning("configuration not re-read: %s", type(error).__name__)
        return {}
    if answer.status_code != 200:
        log.warning("Keystead refused the configuration request (%s): %s",
                    answer.status_code, answer.text[:200])
        return {}
    changed = cfg.follow(agent.config, answer.json())
    if changed:
        if agent.config_path is not None:
            cfg.save(agent.config, agent.config_path)
        agent.events.add("configuration.change", outcome="success",
                         reason=", ".join(f"{k}={v}" for k, v in changed.items())[:200])
        agent.events.flush()
    return changed


def run_forever(agent: Agent, stop: threading.Event) -> None:
    # Whatever the file says: never without a pause, never past what a wait can take.
    while not stop.wait(min(max(agent.config.check_seconds, 1), 86400)):
        try:
            follow_keystead(agent)
        except Exception:  # a bad answer must not stop the checks
            log.exception("re-reading the configuration failed")
        for user in agent.vault.users():
            if not local.exists(user):
                continue
            try:
                check(agent, user)
            except Exception:  # one account's trouble must not stop the others' checks
                log.exception("checking %s failed", user)
