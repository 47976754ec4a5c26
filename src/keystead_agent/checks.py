"""The periodic check, for every account that signed in with Keystead here: did the
Keystead password change (Keystead refuses the refresh token kept from the last sign-in
saying so, or the ``password_changed_at`` claim moved), did Keystead stop accepting that
sign-in for another reason it names (tokens revoked, account disabled, session expired,
application no longer allowed; or none: "sign in again"), or did the local password
change outside the agent (the shadow entry is not the one the agent last wrote)? The
person is told once, on the desktop, what happened and what to do."""

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
# Keystead no longer accepts the sign-in kept here, for a reason other than a new password.
REVOKED, DISABLED, EXPIRED = "revoked", "disabled", "expired"
NOT_ALLOWED, SIGN_IN_AGAIN = "not-allowed", "sign-in-again"

#: Keystead's ``reason`` for a refused refresh (docs/agent.md) → what the agent tells.
#: Anything else, or none (an older Keystead, an unknown token), is SIGN_IN_AGAIN: the
#: agent does not guess a cause it was not given.
SERVER_REASONS = {"password_changed": KEYSTEAD, "revoked": REVOKED,
                  "account_disabled": DISABLED, "expired": EXPIRED,
                  "application_not_allowed": NOT_ALLOWED}

_AGAIN = ("Sign in again with your Keystead password (or run keystead-agent sync) so this "
          "computer keeps following it.")
_MESSAGES = {
    LOCAL: ("This computer's password was changed outside Keystead",
            "Run keystead-agent sync and give your Keystead password to bring it back."),
    REVOKED: ("Keystead ended this computer's sign-in",
              "Your Keystead sign-in here was revoked (for example by an administrator, or by "
              f"signing out everywhere). {_AGAIN}"),
    DISABLED: ("Your Keystead account is disabled",
               "Keystead no longer accepts your account. Ask your administrator."),
    EXPIRED: ("Your Keystead sign-in on this computer has expired", _AGAIN),
    NOT_ALLOWED: ("Keystead no longer accepts this computer's application",
                  "Keystead does not let this computer's agent check your password any "
                  "more. Ask your administrator."),
    SIGN_IN_AGAIN: ("Sign in to Keystead again",
                    f"Keystead no longer accepts this computer's sign-in. {_AGAIN}"),
}


def message(reason: str, mode: str) -> tuple[str, str]:
    """The notification's summary and body."""
    if reason in _MESSAGES:
        return _MESSAGES[reason]
    asks = ("your Keystead password" if mode == STORE
            else "your Keystead password and this computer's previous password")
    return ("Your Keystead password changed",
            f"Run keystead-agent sync to use it on this computer: it asks for {asks}.")


def refused_because(result: remote.CheckResult) -> str:
    """What a refused refresh means here, from Keystead's ``reason``."""
    return SERVER_REASONS.get(result.reason, SIGN_IN_AGAIN)


def changed(agent: Agent, user: str) -> str | None:
    """KEYSTEAD, LOCAL, another reason Keystead refused (``refused_because``), or None (in
    step, or Keystead unreachable: nothing is known)."""
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
        return refused_because(result)
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
    # "changed": a password moved; "refused": Keystead stopped accepting the sign-in.
    agent.events.add("password-check", user=user,
                     outcome="changed" if reason in (KEYSTEAD, LOCAL) else "refused",
                     reason=reason)
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
