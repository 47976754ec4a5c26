"""The policy that applies to a person, and the one password check every door calls."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import DEFAULT_DB_ALIAS

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
def _policy_query(model: type[PolicySettings],
                  member_by: str | None) -> tuple[str, tuple[str, ...]]:
    """The installation's policy (``id = %s``), or the group policies of the member whose
    ``member_by`` ("id" or "email") is ``%s``; every column but ``updated_at`` (deferred)."""
    selected, names = plain_reads.columns(model, skip=("updated_at",))
    if member_by is None:
        return (f"SELECT {selected} FROM {hot_sql.table(model)} p "  # noqa: S608
                f"WHERE p.{hot_sql.column(model, 'id')} = %s"), names
    members = User.directory_groups.through
    group, member = hot_sql.column(members, "group"), hot_sql.column(members, "user")
    sql = (f"SELECT {selected} FROM {hot_sql.table(model)} p "  # noqa: S608
           f"JOIN {hot_sql.table(members)} m ON m.{group} = p.{hot_sql.column(model, 'group')}")
    if member_by == "id":
        return f"{sql} WHERE m.{member} = %s", names
    return (f"{sql} JOIN {hot_sql.table(User)} who ON who.id = m.{member}"
            f" WHERE who.{hot_sql.column(User, member_by)} = %s"), names


def _policy_rows(model: type[PolicySettings], member_by: str | None, key: int) -> list:
    sql, names = _policy_query(model, member_by)
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
    site = _policy_rows(LogonPolicy, None, 1)
    return (site[0] if site else LogonPolicy.current(),
            _policy_rows(GroupPolicy, "id", user.pk) if member else [])


@cache
def _account_and_policies_query() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The installation's policy as JSON (its id, ``%s``), the group policies of the
    account with an email as a JSON array (``%s``) and that account (the email again,
    ``%s``): one row, the account's columns NULL when nobody has that email. Policy
    columns are numbers, booleans and text, which JSON carries as they are."""
    account_columns, account_names = plain_reads.columns(User)
    site_sql, site_names = _policy_query(LogonPolicy, None)
    group_sql, group_names = _policy_query(GroupPolicy, "email")
    sql = (f"SELECT {account_columns},"  # noqa: S608 (names from the models)
           f" (SELECT row_to_json(site) FROM ({site_sql}) site),"
           f" (SELECT json_agg(mine) FROM ({group_sql}) mine)"
           f" FROM (SELECT 1) one LEFT JOIN {hot_sql.table(User)} p"
           f" ON p.{hot_sql.column(User, 'email')} = %s")
    return sql, account_names, (site_names, group_names)


def account_and_policy(email: str) -> tuple[User | None, EffectivePolicy]:
    """The account signing in with this (normalised) email, or None, and the policy that
    applies to it (``effective_policy``).

    Every password sign-in needs both, before anything else: on PostgreSQL they come
    from one plain prepared statement (one round trip instead of three; an unknown
    email costs the same read as a known one). Elsewhere through the ORM.
    """
    if not plain_reads.available():
        user = User.objects.filter(email=email).first()
        return user, effective_policy(user)
    sql, account_names, (site_names, group_names) = _account_and_policies_query()
    # The installation's policy is row 1 (``LogonPolicy.current``).
    with hot_sql.execute(sql, [1, email, email]) as cursor:
        *account, site, groups = cursor.fetchone()
    user = None if account[0] is None else User.from_db(DEFAULT_DB_ALIAS, account_names,
                                                         account)
    return user, _combined(
        _from_json(LogonPolicy, site_names, site) if site else LogonPolicy.current(),
        [_from_json(GroupPolicy, group_names, row) for row in groups or ()])


def _from_json(model: type[PolicySettings], names: tuple[str, ...], row: dict):
    """A policy read as a JSON object (keys: column names) as the ORM would make it."""
    return model.from_db(DEFAULT_DB_ALIAS, names, [row[key] for key in _json_keys(model, names)])


@cache
def _json_keys(model: type[PolicySettings], names: tuple[str, ...]) -> tuple[str, ...]:
    """The JSON keys (column names) of these fields, looked up once per process."""
    return tuple(model._meta.get_field(name).column for name in names)


def effective_policy(user: User | None) -> EffectivePolicy:
    """The installation policy tightened by the policy of every group the user is in."""
    return _combined(*_site_policy_and_group_policies(user))


def _combined(site: LogonPolicy, group_policies: list[GroupPolicy]) -> EffectivePolicy:
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

