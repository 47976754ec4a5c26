"""What happens when a person signs in through PAM (or runs ``keystead-agent sync``):
the password is checked with Keystead, and the local password brought in line with it
in the configured mode. The decisions are here; ``daemon`` only carries the messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keystead_agent import local, names, remote
from keystead_agent import protocol as p
from keystead_agent.backoff import Backoff
from keystead_agent.config import STORE, Config
from keystead_agent.events import Events
from keystead_agent.remote import Check
from keystead_agent.vault import Vault

log = logging.getLogger("keystead_agent")
#: Wrong Keystead passwords in a row after which the reset address is shown.
RESET_AFTER = 3


@dataclass
class Failures:
    """Wrong Keystead passwords in a row, per local account (reset by a right one)."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bump(self, user: str) -> int:
        with self.lock:
            self.counts[user] = self.counts.get(user, 0) + 1
            return self.counts[user]

    def clear(self, user: str) -> None:
        with self.lock:
            self.counts.pop(user, None)


class Conversation:
    """The two things the sign-in logic needs from the other end."""

    def __init__(self, say: Callable[[str, str], None], ask: Callable[[str, str], str | None]):
        self.say = say
        self.ask = ask


@dataclass
class Agent:
    config: Config
    vault: Vault
    events: Events
    failures: Failures = field(default_factory=Failures)
    backoff: Backoff = field(default_factory=Backoff)
    #: Where the configuration came from; Keystead's changes to it are saved there.
    config_path: Path | None = None

    def sign_in(self, conv: Conversation, typed: str, service: str,
                only: str | None = None) -> str:
        """Run one sign-in for the name typed (local name, Keystead email or user name);
        return ALLOWED, DENIED or IGNORE. ``only``: the caller is not root and may only
        sign in as this local account."""
        user = names.local_name(self.config, typed, exists=local.exists,
                                remembered=self.vault.alias)
        if only is not None and user != only:
            log.warning("a caller who is %s asked about another account; refused", only)
            return p.DENIED
        if user is None:
            if not names.needs_keystead(self.config, typed):
                return p.IGNORE  # not an account of this computer: not ours to decide
            return self._by_keystead_name(conv, typed, service)
        if self._left_local(user):
            return p.IGNORE  # root, system and local-only accounts: never sent to Keystead
        exists = local.exists(user)
        if not exists and not self.config.create_accounts:
            return p.IGNORE  # not an account of this computer: not ours to decide
        if user != typed:
            conv.say(p.USER, user)  # the rest of the PAM stack works on the local account
        password = conv.ask(p.ASK_PASSWORD, "Password: ")
        if not password:
            return p.DENIED  # nothing typed: not worth a question to Keystead
        result = remote.check_password(self.config, names.keystead_name(self.config, typed,
                                                                        user), password)
        if not exists:
            return self._first_sign_in(conv, user, password, result)
        return self._decide(conv, typed, user, service, password, result)

    def _left_local(self, user: str) -> bool:
        number = local.uid(user)
        return (number is not None and number < self.config.min_uid) \
            or user in self.config.local_accounts

    def _by_keystead_name(self, conv: Conversation, typed: str, service: str) -> str:
        """A Keystead email typed under the ``local`` mapping: Keystead's yes names the
        local account (its user name); remembered for the offline case."""
        password = conv.ask(p.ASK_PASSWORD, "Password: ")
        if not password:
            return p.DENIED
        result = remote.check_password(self.config, typed, password)
        if result.check is not Check.RIGHT:
            if result.check is Check.WRONG:
                self._wrong(conv, typed, service)
            elif result.check is Check.REFUSED:
                conv.say(p.ERROR, f"Keystead: {result.message}")
            return p.DENIED if result.check is Check.WRONG else p.IGNORE
        user = result.username
        if not user or self._left_local(user) or not local.exists(user):
            conv.say(p.ERROR, f"This computer has no account for {typed}: sign in with the "
                              "local account name, or ask an administrator.")
            self.events.add("sign-in", user=user or typed, service=service,
                            outcome="failure", reason="no local account for the Keystead name")
            return p.DENIED
        conv.say(p.USER, user)
        return self._decide(conv, typed, user, service, password, result)

    def _wrong(self, conv: Conversation, user: str, service: str) -> None:
        count = self.failures.bump(user)
        self.events.add("sign-in", user=user, service=service, outcome="failure",
                        reason="wrong Keystead password")
        if count >= RESET_AFTER:
            conv.say(p.INFO, f"Forgot your password? Reset it at {self.config.reset_url}")

    def _decide(self, conv: Conversation, typed: str, user: str, service: str,
                password: str, result: remote.CheckResult) -> str:
        """Keystead's answer about an existing local account ``user``."""
        if result.check is Check.UNREACHABLE:
            return self._offline(conv, user, password, service, result.message)
        if result.check is Check.REFUSED:
            conv.say(p.ERROR, f"Keystead: {result.message}")
            self.events.add("sign-in", user=user, service=service, outcome="failure",
                            reason=f"Keystead refused: {result.message}"[:200])
            return p.IGNORE
        if result.check is Check.WRONG:
            self._wrong(conv, user, service)
            # Keystead says no alike for a wrong password and an unknown person. An account
            # that never signed in with Keystead here may be local only: its own password
            # decides. Once linked, Keystead's answer is final.
            return p.DENIED if self.vault.known(user) else p.IGNORE
        self.failures.clear(user)
        self.backoff.clear(user)
        if typed != user:
            self.vault.keep_alias(typed, user)
        self.vault.set_user_state(user, last_check=int(time.time()),
                                  password_changed_at=result.password_changed_at)
        self.vault.keep_token(user, result.refresh_token)
        self.vault.update_state(last_check=int(time.time()))
        outcome = self.bring_local_in_line(conv, user, password)
        if outcome == p.ALLOWED:
            self.events.add("sign-in", user=user, service=service, outcome="success")
        return outcome

    def _first_sign_in(self, conv: Conversation, user: str, password: str,
                       result: remote.CheckResult) -> str:
        """No such local account, and accounts may be created: only when Keystead says yes
        (and the local policy accepts the password) is it made, with that password."""
        if result.check is not Check.RIGHT:
            if result.check is Check.WRONG:
                self.failures.bump(user)
            return p.DENIED if result.check is Check.WRONG else p.IGNORE
        unsettable = local.password_problem(password)
        if unsettable:  # before useradd: no account is left behind without its password
            conv.say(p.ERROR, f"The local account could not be created: {unsettable}")
            self.events.add("local-account.create", user=user, outcome="failure",
                            reason=unsettable[:200])
            return p.DENIED
        problem = local.quality_problem(user, password, self.config.pwquality_conf)
        if problem:
            conv.say(p.ERROR, local.CONFLICT_MESSAGE.format(reason=problem))
            return p.DENIED
        try:
            local.create(user)
            local.set_password(user, password)
        except local.LocalChangeFailed as error:
            conv.say(p.ERROR, f"The local account could not be created: {error}")
            self.events.add("local-account.create", user=user, outcome="failure",
                            reason=str(error)[:200])
            return p.DENIED
        self.vault.keep_token(user, result.refresh_token)
        self.vault.set_user_state(user, password_changed_at=result.password_changed_at,
                                  last_check=int(time.time()))
        self._remember(user, password)
        self.events.add("local-account.create", user=user, outcome="success")
        return p.ALLOWED

    def _offline(self, conv: Conversation, user: str, password: str, service: str,
                 why: str) -> str:
        """Keystead unreachable: the remembered verifier lets the current password in;
        otherwise pam_unix decides with the password typed. Nothing local changes.
        Repeated wrong guesses make the account wait (``backoff``)."""
        wait = self.backoff.remaining(user)
        if wait:
            conv.say(p.ERROR, f"Too many wrong passwords while Keystead cannot be reached: "
                              f"try again in {wait} seconds.")
            self.events.add("sign-in", user=user, service=service, outcome="denied",
                            reason=f"offline ({why}), waiting after wrong passwords")
            return p.DENIED
        matches = self.vault.matches(user, password)
        if matches:
            self.backoff.clear(user)
            self.events.add("sign-in", user=user, service=service, outcome="success",
                            reason=f"offline ({why}), cached verifier")
            return p.ALLOWED
        if matches is False:
            self.backoff.failed(user)
        self.events.add("sign-in", user=user, service=service, outcome="undecided",
                        reason=f"offline ({why}), left to the local password")
        return p.IGNORE

    def bring_local_in_line(self, conv: Conversation, user: str, password: str) -> str:
        """Keystead said yes to ``password``: make it the local password too."""
        if local.verify(user, password):
            self._remember(user, password)
            return p.ALLOWED
        unsettable = local.password_problem(password)
        if unsettable:  # said as it is, not as a policy conflict
            conv.say(p.ERROR, f"The local password could not be changed: {unsettable}")
            self.events.add("local-password.sync", user=user, mode=self.config.mode,
                            outcome="failure", reason=unsettable[:200])
            return p.DENIED
        problem = local.quality_problem(user, password, self.config.pwquality_conf)
        if problem:
            conv.say(p.ERROR, local.CONFLICT_MESSAGE.format(reason=problem))
            self.events.add("local-password.sync", user=user, mode=self.config.mode,
                            outcome="failure", reason=f"local policy conflict: {problem}")
            return p.DENIED
        old = self.vault.stored(user) if self.config.mode == STORE else None
        if old is None or not local.verify(user, old):
            old = conv.ask(p.ASK_OLD_LOCAL, "Your Keystead password changed. Previous "
                                            "password of this computer: ")
            if old is None or not local.verify(user, old):
                conv.say(p.ERROR, f"That is not the current local password of {user}; "
                                  "the local password was not changed.")
                self.events.add("local-password.sync", user=user, mode=self.config.mode,
                                outcome="failure", reason="wrong old local password")
                return p.DENIED
        try:
            local.set_password(user, password)
        except local.LocalChangeFailed as error:
            conv.say(p.ERROR, f"The local password could not be changed: {error}")
            self.events.add("local-password.sync", user=user, mode=self.config.mode,
                            outcome="failure", reason=str(error)[:200])
            return p.DENIED
        self._remember(user, password)
        self.vault.set_user_state(user, last_sync=int(time.time()))
        self.vault.update_state(last_sync=int(time.time()))
        self.events.add("local-password.sync", user=user, mode=self.config.mode,
                        outcome="success")
        conv.say(p.INFO, "Your local password now matches your Keystead password.")
        return p.ALLOWED

    def _remember(self, user: str, password: str) -> None:
        """Keep the verifier (both modes), the encrypted password (store mode), and the
        shadow entry as it is now, to notice a change made outside the agent."""
        self.vault.remember(user, password)
        if self.config.mode == STORE:
            self.vault.store(user, password)
        else:
            self.vault.forget_stored(user)
        self.vault.set_user_state(user, last_set=local.shadow_fingerprint(user),
                                  needs_sync="")
