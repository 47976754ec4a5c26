"""The policy that applies to a person, and the one password check every door calls."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import check_password

from keystead import hot_sql, plain_reads
from keystead.directory.models import User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.policy import screening
from keystead.policy.lockout import ExpiryRules, LockoutRules
from keystead.policy.models import (
    GroupPolicy,
    LogonPolicy,
    PasswordHistory,
    PolicySettings,
    Strategy,
)
from keystead.policy.rules import REUSE_ALL, Failure, PasswordRules, Person, password_failures
from keystead.secret import Secret


@dataclass(frozen=True)
class EffectivePolicy:
    password: PasswordRules
    lockout: LockoutRules
    expiry: ExpiryRules
    # The installation's strategy asks for a second factor, or one of the person's groups
    # does. Answered from the same two queries as the rest, so a sign-in needs no more.
    second_factor: bool = False
    # Only phishing-resistant or app-based factors (no emailed codes), from a group policy.
    strong_factors_only: bool = False


@cache
def _policy_query(model: type[PolicySettings], of_member: bool) -> tuple[str, tuple[str, ...]]:
    """The installation's policy (``id = %s``) or a member's group policies
    (``user_id = %s``), every column but ``updated_at`` (deferred)."""
    selected, names = plain_reads.columns(model, skip=("updated_at",))
    if of_member:
        members = User.directory_groups.through
        group, member = hot_sql.column(members, "group"), hot_sql.column(members, "user")
        sql = (f"SELECT {selected} FROM {hot_sql.table(model)} p "  # noqa: S608
               f"JOIN {hot_sql.table(members)} m "
               f"ON m.{group} = p.{hot_sql.column(model, 'group')} WHERE m.{member} = %s")
    else:
        sql = (f"SELECT {selected} FROM {hot_sql.table(model)} p "  # noqa: S608
               f"WHERE p.{hot_sql.column(model, 'id')} = %s")
    return sql, names


def _policy_rows(model: type[PolicySettings], of_member: bool, key: int) -> list:
    sql, names = _policy_query(model, of_member)
    return plain_reads.instances(model, sql, [key], names)


def _site_policy_and_group_policies(user: User | None) -> tuple[LogonPolicy, list[GroupPolicy]]:
    """The installation's policy and those of the user's groups.

    Two plain prepared statements (``keystead.plain_reads``): every password
    sign-in reads them, and the ORM's statement building (and PostgreSQL's
    planning of the three-table join it wrote for the group policies) cost more
    than the reads themselves. On SQLite, and to create the installation's row
    the first time, through the ORM.
    """
    member = user is not None and user.pk
    if not plain_reads.available():
        return LogonPolicy.current(), (
            list(GroupPolicy.objects.filter(group__members=user)) if member else [])
    site = _policy_rows(LogonPolicy, False, 1)
    return (site[0] if site else LogonPolicy.current(),
            _policy_rows(GroupPolicy, True, user.pk) if member else [])


def effective_policy(user: User | None) -> EffectivePolicy:
    """The installation policy tightened by the policy of every group the user is in."""
    site, group_policies = _site_policy_and_group_policies(user)
    password, lockout, expiry = site.password_rules(), site.lockout_rules(), site.expiry_rules()
    second_factor = site.login_strategy == Strategy.PASSWORD_AND_SECOND_FACTOR
    strong_only = False
    for group_policy in group_policies:
        password = password.strictest(group_policy.password_rules())
        lockout = lockout.strictest(group_policy.lockout_rules())
        expiry = expiry.strictest(group_policy.expiry_rules())
        second_factor = second_factor or group_policy.require_second_factor
        strong_only = strong_only or group_policy.strong_factors_only
    return EffectivePolicy(password, lockout, expiry, second_factor, strong_only)


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

