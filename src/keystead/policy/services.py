"""The policy that applies to a person, and the one password check every door calls."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password

from keystead.directory.models import User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.policy import screening
from keystead.policy.lockout import ExpiryRules, LockoutRules
from keystead.policy.models import (
    GroupPolicy,
    LogonPolicy,
    PasswordHistory,
    Strategy,
)
from keystead.policy.rules import REUSE_ALL, Failure, PasswordRules, Person, password_failures
from keystead.secret import Secret


@dataclass(frozen=True)
class EffectivePolicy:
    password: PasswordRules
    lockout: LockoutRules
    expiry: ExpiryRules
    code_lockout: LockoutRules  # wrong second-factor codes
    # The installation's strategy asks for a second factor, or one of the person's groups does.
    second_factor: bool = False
    # Only phishing-resistant or app-based factors (no emailed codes), from a group policy.
    strong_factors_only: bool = False
    # The installation's login strategy (who checks a password: Keystead, LDAP, nobody).
    strategy: str = Strategy.PASSWORD


def effective_policy(user: User | None) -> EffectivePolicy:
    """The installation policy tightened by the policy of every group the user is in."""
    return _loaded({"group__members": user} if user is not None and user.pk else None)


def account_and_policy(typed: str) -> tuple[User | None, EffectivePolicy]:
    """The account signing in with this typed name (email or user name), or None, and
    its policy.

    The group policies are looked up by the typed name, not the account, so an
    unknown name costs the same reads as a known one.
    """
    named = User.objects.signing_in_as(typed)
    return named.first(), _loaded({"group__members__in": named})


def _loaded(members: dict | None) -> EffectivePolicy:
    """The installation's policy folded with the policies of the groups ``members`` selects
    (a ``GroupPolicy`` filter; None: no groups)."""
    return fold(LogonPolicy.current(),
                GroupPolicy.objects.filter(**members) if members else ())


def fold(site: LogonPolicy, group_policies: Iterable[GroupPolicy]) -> EffectivePolicy:
    """The strictest of each rule across the installation's and the group policies."""
    password, lockout, expiry = site.password_rules(), site.lockout_rules(), site.expiry_rules()
    second_factor = site.login_strategy == Strategy.PASSWORD_AND_SECOND_FACTOR
    strong_only = False
    for group_policy in group_policies:
        password = password.strictest(group_policy.password_rules())
        lockout = lockout.strictest(group_policy.lockout_rules())
        expiry = expiry.strictest(group_policy.expiry_rules())
        second_factor = second_factor or group_policy.require_second_factor
        strong_only = strong_only or group_policy.strong_factors_only
    # Wrong second-factor codes have the installation's own threshold and lock for as
    # long as wrong passwords do.
    codes = LockoutRules(max_failures=site.code_max_attempts, lock_minutes=lockout.lock_minutes)
    return EffectivePolicy(password, lockout, expiry, codes, second_factor, strong_only,
                           site.login_strategy)


def rules_fingerprint(rules: PasswordRules) -> str:
    """A short fingerprint of the rules a password is checked against at sign-in (the
    policy's values and which breach filter screens), so a sign-in can tell whether the
    rules changed since the password last met them; re-use of old passwords is not part
    of that check."""
    rules = dataclasses.replace(rules, reuse_blocked=0)
    described = repr((sorted(dataclasses.asdict(rules).items()),
                      settings.PASSWORD_FILTER_FILE or ""))
    return hashlib.sha256(described.encode()).hexdigest()


def _previous_hashes(user: User, rules: PasswordRules) -> list[str]:
    if not rules.reuse_blocked or not user.pk:
        return []
    history = PasswordHistory.objects.filter(user=user).values_list("password_hash", flat=True)
    if rules.reuse_blocked != REUSE_ALL:
        # The current password counts as the most recent of "the last N".
        history = history[: max(rules.reuse_blocked - 1, 0)]
    current = [user.password] if user.has_usable_password() else []
    return current + list(history)


def password_problems(
    password: Secret, *, user: User | None = None, person: Person | None = None,
    rules: PasswordRules | None = None,
) -> list[Failure]:
    """Every rule ``password`` breaks for ``user`` (or a person not yet saved)."""
    rules = rules or effective_policy(user).password
    if person is None and user is not None:
        person = Person(email=user.email, given_name=user.given_name,
                        family_name=user.family_name)
    previous = _previous_hashes(user, rules) if user is not None else []
    return password_failures(
        password.reveal(), rules, person=person,
        is_common=lambda p: screening.is_common(p, settings.PASSWORD_FILTER_FILE or None),
        matches_previous=lambda p: any(check_password(p, h) for h in previous),
    )


def require_acceptable(password: Secret, **kwargs) -> None:
    """Raise RuleViolation listing every failing rule, each as a ``password`` problem."""
    failures = password_problems(password, **kwargs)
    if failures:
        raise RuleViolation([
            FieldProblem("password", f"The password {f.message}.", code=f.code)
            for f in failures
        ])


def remember_current_password(user: User) -> None:
    """Keep the outgoing hash for the re-use rule, before the password changes."""
    if user.pk and user.has_usable_password():
        PasswordHistory.objects.create(user=user, password_hash=user.password)

