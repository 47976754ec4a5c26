"""Changing a logon policy: the checks and the audit every door shares.

The admin console, the REST API and the ``keystead policy`` command all come
through here, so a value refused in one door is refused in every door with
the same words, and every change leaves one audit Event that lists each
changed setting as ``[old, new]``. Who may change a policy is decided here
too (``directory.manage_policy``), so every door gives one person one answer.

The checks on the values themselves (``setting_problems``) are pure: they
read the allowed ranges from the model's validators, so the stored range and
the checked range cannot drift apart, and add the rules that relate settings
to each other and the floors NIST SP 800-63B-4 sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.authorization import Actor, require_permission
from keystead.directory.models import Group
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.policy.models import GroupPolicy, LogonPolicy, PolicySettings, Strategy
from keystead.policy.rules import REUSE_ALL
from keystead.policy.services import EffectivePolicy, fold
from keystead.policy.strategies import strategy_prerequisites

#: Every setting a policy has, in the order pages and tables show them.
PASSWORD_FIELDS = (
    "min_length", "max_length", "min_strength", "min_lowercase", "min_uppercase", "min_digits",
    "min_symbols", "screen_common", "screen_personal",
)
REUSE_EXPIRY_FIELDS = ("reuse_blocked", "expire_days", "warn_days")
LOCKOUT_FIELDS = ("max_failures", "lock_minutes")
SETTING_FIELDS = PASSWORD_FIELDS + REUSE_EXPIRY_FIELDS + LOCKOUT_FIELDS
#: Settings only the installation has: how people sign in and the second-factor rules.
STRATEGY_FIELDS = ("login_strategy", "email_code_length", "code_max_attempts", "remember_days")
INSTALLATION_FIELDS = SETTING_FIELDS + STRATEGY_FIELDS
#: Settings a group policy has: the rules it tightens, and whether members need a second factor.
GROUP_FLAGS = ("require_second_factor", "strong_factors_only")
GROUP_FIELDS = (*SETTING_FIELDS, *GROUP_FLAGS)

#: The zxcvbn score below which the console, the API and the CLI point out a weak setting:
#: 3 ("safely unguessable", 10^8 guesses and more) is the default.
RECOMMENDED_MIN_STRENGTH = 3

#: NIST SP 800-63B-4: at least 8 characters when a second factor is also required,
#: 15 for a password used alone; at most 100 consecutive failures on one account.
NIST_MIN_LENGTH_WITH_MFA = 8
NIST_MIN_LENGTH_ALONE = 15
NIST_MAX_FAILURES = 100

LABELS = {
    "min_length": "Minimum password length",
    "max_length": "Maximum password length",
    "min_strength": "Minimum strength score (zxcvbn, 0-4)",
    "min_lowercase": "Lowercase letters required",
    "min_uppercase": "Uppercase letters required",
    "min_digits": "Numbers required",
    "min_symbols": "Non-alphanumeric characters required",
    "screen_common": "Refuse common and breached passwords",
    "screen_personal": "Refuse passwords containing the user's name or email",
    "reuse_blocked": "Block re-use of previous passwords",
    "expire_days": "Password expires after (days)",
    "warn_days": "Warn before expiry (days)",
    "max_failures": "Maximum consecutive failed sign-ins before locking",
    "lock_minutes": "Lockout period (minutes)",
    "login_strategy": "Login strategy",
    "email_code_length": "Second factor code length (digits)",
    "code_max_attempts": "Max attempts (wrong codes before the account locks)",
    "remember_days": "Remember second factor for (days)",
    "require_second_factor": "Require a second factor",
    "strong_factors_only": "Only passkeys and authenticator apps",
}


def is_flag(name: str) -> bool:
    model = GroupPolicy if name in GROUP_FLAGS else LogonPolicy
    return isinstance(model._meta.get_field(name), models.BooleanField)


#: The range Django promises for small integer columns on every database.
SMALL_INTEGER_MAX = 32767


def setting_range(name: str) -> tuple[int, int]:
    """The lowest and highest value the model accepts for a number setting.

    Capped at what a small integer column holds on every database, whatever a
    validator says, so a value is refused with a message instead of failing
    in the database (lock_minutes' validator allows 100,000).
    """
    field = PolicySettings._meta.get_field(name)
    low = max((v.limit_value for v in field.validators if isinstance(v, MinValueValidator)),
              default=-SMALL_INTEGER_MAX)
    high = min((v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)),
               default=SMALL_INTEGER_MAX)
    return int(low), min(int(high), SMALL_INTEGER_MAX)  # type: ignore[arg-type]


def accepted_range(name: str) -> tuple[int, int]:
    """The range a number setting may be set to: the model's, narrowed by NIST's floors."""
    low, high = setting_range(name)
    if name == "min_length":
        low = max(low, NIST_MIN_LENGTH_WITH_MFA)
    if name == "max_failures":
        high = min(high, NIST_MAX_FAILURES)
    return low, high


def settings_of(policy: PolicySettings) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in SETTING_FIELDS}


def _range_problem(name: str, value: Any) -> FieldProblem | None:
    if is_flag(name):
        if not isinstance(value, bool):
            return FieldProblem(name, f"{name} must be true or false.", code="invalid")
        return None
    low, high = setting_range(name)
    if isinstance(value, bool) or not isinstance(value, int):
        return FieldProblem(name, f"{name} must be a whole number from {low} to {high}.",
                            code="invalid")
    if not low <= value <= high:
        hint = {
            "max_length": " (at least 64, so long passphrases fit)",
            "reuse_blocked": " (-1 blocks every previous password, 0 allows re-use)",
            "min_strength": " (zxcvbn's scores: 0 turns the rule off, 4 is the strictest)",
        }.get(name, "")
        return FieldProblem(name, f"{name} must be from {low} to {high}{hint}; got {value}.",
                            code="range")
    return None


def _relation_problems(v: Mapping[str, Any]) -> list[FieldProblem]:
    problems = []
    if v["min_length"] < NIST_MIN_LENGTH_WITH_MFA:
        problems.append(FieldProblem(
            "min_length",
            f"min_length must be at least {NIST_MIN_LENGTH_WITH_MFA}: NIST SP 800-63B-4 allows "
            f"{NIST_MIN_LENGTH_WITH_MFA} only together with a second factor and asks for "
            f"{NIST_MIN_LENGTH_ALONE} for a password used alone.", code="nist_min_length"))
    if v["max_length"] < v["min_length"]:
        problems.append(FieldProblem(
            "max_length",
            f"max_length ({v['max_length']}) must be at least min_length ({v['min_length']}); "
            "raise the maximum or lower the minimum.", code="max_below_min"))
    required = sum(v[n] for n in ("min_lowercase", "min_uppercase", "min_digits", "min_symbols"))
    if required > v["max_length"]:
        problems.append(FieldProblem(
            "max_length",
            f"The character rules ask for {required} characters in all, more than max_length "
            f"({v['max_length']}) allows; lower the counts or raise the maximum.",
            code="composition_too_long"))
    if v["expire_days"] and v["warn_days"] >= v["expire_days"]:
        problems.append(FieldProblem(
            "warn_days",
            f"warn_days ({v['warn_days']}) must be less than expire_days ({v['expire_days']}), "
            "or people are warned from the day they set a password; lower it.",
            code="warn_after_expiry"))
    if v["max_failures"] > NIST_MAX_FAILURES:
        problems.append(FieldProblem(
            "max_failures",
            f"max_failures must be at most {NIST_MAX_FAILURES} (NIST SP 800-63B-4 limits "
            f"consecutive failed attempts to 100); use 0 only if another rate limit applies.",
            code="nist_max_failures"))
    return problems


def setting_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    """Every problem with a complete set of policy values, each naming its setting.

    Range and type problems come first; the rules between settings are
    checked only once every value is in range, so a message never talks about
    a value that is itself wrong.
    """
    problems = [FieldProblem(name, f"Unknown setting {name!r}; known settings: "
                             f"{', '.join(SETTING_FIELDS)}.", code="unknown")
                for name in values if name not in SETTING_FIELDS]
    missing = [name for name in SETTING_FIELDS if name not in values]
    problems += [FieldProblem(name, f"{name} is required.", code="required") for name in missing]
    problems += [p for name in SETTING_FIELDS if name in values
                 if (p := _range_problem(name, values[name])) is not None]
    if problems:
        return problems
    return _relation_problems(values)


def setting_advice(values: Mapping[str, Any]) -> list[str]:
    """Settings that are allowed but depart from NIST SP 800-63B-4, in plain words."""
    advice = []
    if values.get("min_length", NIST_MIN_LENGTH_ALONE) < NIST_MIN_LENGTH_ALONE:
        advice.append(f"A minimum length below {NIST_MIN_LENGTH_ALONE} is acceptable only when "
                      "every account also uses a second factor.")
    if any(values.get(n) for n in ("min_lowercase", "min_uppercase", "min_digits",
                                   "min_symbols")):
        advice.append("Character-type rules make passwords harder to remember without making "
                      "them much harder to guess; NIST advises against them.")
    if values.get("expire_days"):
        advice.append("Periodic expiry pushes people to predictable variations; NIST advises "
                      "a change only on evidence of compromise.")
    if values.get("screen_common") is False:
        advice.append("Screening against common and breached passwords is off; NIST requires "
                      "it.")
    if values.get("min_strength", RECOMMENDED_MIN_STRENGTH) < RECOMMENDED_MIN_STRENGTH:
        advice.append(f"A minimum strength score below {RECOMMENDED_MIN_STRENGTH} lets through "
                      "passwords made of repeats, sequences, keyboard rows or names (such as "
                      "passwordpassword), which the common-password list does not hold.")
    if values.get("max_failures") == 0:
        advice.append("Accounts never lock: make sure something else limits password "
                      "guessing (NIST requires at most 100 consecutive failures).")
    return advice


def _strategy_range(name: str) -> tuple[int, int]:
    field = LogonPolicy._meta.get_field(name)
    low = max((v.limit_value for v in field.validators if isinstance(v, MinValueValidator)),
              default=0)
    high = min((v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)),
               default=SMALL_INTEGER_MAX)
    return int(low), int(high)  # type: ignore[arg-type]


def strategy_problems(values: Mapping[str, Any], before: Mapping[str, Any] | None = None,
                      ) -> list[FieldProblem]:
    """Problems with the strategy settings among ``values``.

    A strategy is checked against its prerequisites (``strategy_prerequisites``)
    when it is being chosen, i.e. when it differs from ``before``: a mail server
    that went away later must not stop an administrator from fixing another
    setting.
    """
    problems = []
    for name in STRATEGY_FIELDS[1:]:
        if name not in values:
            continue
        value, (low, high) = values[name], _strategy_range(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(FieldProblem(
                name, f"{name} must be a whole number from {low} to {high}; got {value!r}.",
                code="range"))
    if "login_strategy" in values:
        strategy = values["login_strategy"]
        if strategy not in Strategy.values:
            problems.append(FieldProblem(
                "login_strategy", f"Unknown login strategy {strategy!r}; choose one of: "
                f"{', '.join(Strategy.values)}.", code="invalid"))
        elif before is None or before.get("login_strategy") != strategy:
            problems += [FieldProblem("login_strategy", missing, code="prerequisite")
                         for missing in strategy_prerequisites(strategy)]
    return problems


def installation_settings_of(policy: LogonPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in INSTALLATION_FIELDS}


def group_settings_of(policy: GroupPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in GROUP_FIELDS}


def changed_settings(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list]:
    """``{setting: [old, new]}`` for each setting whose value differs."""
    return {name: [before[name], after[name]] for name in INSTALLATION_FIELDS
            if name in after and name in before and before.get(name) != after[name]}


def _check(values: Mapping[str, Any]) -> None:
    problems = setting_problems(values)
    if problems:
        raise RuleViolation(problems)


def _apply(policy: PolicySettings, values: Mapping[str, Any]) -> None:
    for name in SETTING_FIELDS:
        setattr(policy, name, values[name])
    policy.updated_at = timezone.now()
    policy.save()


def _unknown(changes: Mapping[str, Any], known: tuple[str, ...] = SETTING_FIELDS) -> None:
    problems = []
    for name in changes:
        if name in known:
            continue
        if name in STRATEGY_FIELDS:
            problems.append(FieldProblem(
                name, f"{name} is set for the whole installation, not per group; groups "
                "can require a second factor with require_second_factor.", code="unknown"))
        else:
            problems.append(FieldProblem(name, f"Unknown setting {name!r}; known settings: "
                                         f"{', '.join(known)}.", code="unknown"))
    if problems:
        raise RuleViolation(problems)


#: The one permission that says "may change how people sign in" (the Security
#: administrator role has it); the policy models' own change permissions only show pages.
MANAGE_POLICY = "directory.manage_policy"


def _require_manage(actor: Actor, event: str, *, request: HttpRequest | None,
                   detail: dict[str, Any]) -> None:
    """Every door asks the same question before a logon policy changes, so the console,
    the API and the command line give one answer for one person. Asked before the
    change's transaction, so the refusal's ``event`` is not rolled back with it."""
    require_permission(actor, MANAGE_POLICY, "change the logon policy", event,
                       request=request, detail=detail)


def update_installation_policy(
    changes: Mapping[str, Any], *, actor: Actor, request: HttpRequest | None = None,
    door: str = "api",
) -> tuple[LogonPolicy, dict[str, list]]:
    """Change the settings given; the others keep their value. Returns what changed.

    The row is locked while the new values are checked against the stored
    ones, so two administrators changing different settings at once both
    keep their change.
    """
    _require_manage(actor, "policy.update", request=request, detail={"door": door})
    with transaction.atomic():
        return _update_installation_policy(changes, request=request, door=door)


def _update_installation_policy(
    changes: Mapping[str, Any], *, request: HttpRequest | None, door: str,
) -> tuple[LogonPolicy, dict[str, list]]:
    _unknown(changes, INSTALLATION_FIELDS)
    LogonPolicy.current()
    policy = LogonPolicy.objects.select_for_update().get(pk=1)
    before = installation_settings_of(policy)
    after = {**before, **changes}
    problems = setting_problems({name: after[name] for name in SETTING_FIELDS})
    problems += strategy_problems({name: after[name] for name in STRATEGY_FIELDS}, before)
    if problems:
        raise RuleViolation(problems)
    changed = changed_settings(before, after)
    if changed:
        for name in STRATEGY_FIELDS:
            setattr(policy, name, after[name])
        _apply(policy, after)
        audit.record("policy.update", request=request, target=policy,
                     detail={"door": door, "changed": changed})
    return policy, changed


def save_group_policy(
    group: Group, changes: Mapping[str, Any], *, actor: Actor,
    request: HttpRequest | None = None, door: str = "api",
) -> tuple[GroupPolicy, bool, dict[str, list]]:
    """Create the group's policy or change it; returns (policy, created, changed).

    A new group policy starts from the installation's values, so the caller
    names only the rules the group tightens.
    """
    exists = GroupPolicy.objects.filter(group=group).exists()
    _require_manage(actor, "policy.group.update" if exists else "policy.group.create",
                   request=request, detail={"door": door, "group": group.name})
    with transaction.atomic():
        return _save_group_policy(group, changes, request=request, door=door)


def _save_group_policy(
    group: Group, changes: Mapping[str, Any], *, request: HttpRequest | None, door: str,
) -> tuple[GroupPolicy, bool, dict[str, list]]:
    _unknown(changes, GROUP_FIELDS)
    bad = [name for name in GROUP_FLAGS
           if changes.get(name) is not None and not isinstance(changes[name], bool)]
    if bad:
        raise RuleViolation([FieldProblem(name, f"{name} must be true or false.", code="invalid")
                             for name in bad])
    Group.objects.select_for_update().filter(pk=group.pk).first()  # one creator at a time
    policy = GroupPolicy.objects.select_for_update().filter(group=group).first()
    created = policy is None
    if created:
        policy = GroupPolicy(group=group)
        before = {**settings_of(LogonPolicy.current()), **dict.fromkeys(GROUP_FLAGS, False)}
    else:
        before = group_settings_of(policy)
    after = {**before, **changes}
    _check({name: after[name] for name in SETTING_FIELDS})
    changed = changed_settings(before, after)
    for name in GROUP_FLAGS:
        if before[name] != after[name]:
            changed[name] = [before[name], after[name]]
        setattr(policy, name, after[name])
    if created:
        _apply(policy, after)
        audit.record("policy.group.create", request=request, target=policy,
                     detail={"door": door, "group": group.name, "settings": after})
    elif changed:
        _apply(policy, after)
        audit.record("policy.group.update", request=request, target=policy,
                     detail={"door": door, "group": group.name, "changed": changed})
    return policy, created, changed


def delete_group_policy(
    policy: GroupPolicy, *, actor: Actor, request: HttpRequest | None = None,
    door: str = "api",
) -> None:
    _require_manage(actor, "policy.group.delete", request=request,
                   detail={"door": door, "group": policy.group.name})
    with transaction.atomic():
        audit.record("policy.group.delete", request=request, target=policy,
                     detail={"door": door, "group": policy.group.name,
                             "settings": settings_of(policy)})
        policy.delete()


def effective_settings(policy: EffectivePolicy) -> dict[str, Any]:
    """An effective policy as ``{setting: value}``, named like the stored settings."""
    return {
        **asdict(policy.password),
        "expire_days": policy.expiry.expire_days, "warn_days": policy.expiry.warn_days,
        "max_failures": policy.lockout.max_failures,
        "lock_minutes": policy.lockout.lock_minutes,
    }


def combined(site: LogonPolicy, *group_policies: GroupPolicy) -> dict[str, Any]:
    """The strictest value of each rule over the installation's and the group policies."""
    return effective_settings(fold(site, group_policies))


def describe_value(name: str, value: Any) -> str:
    """A setting's value in words, for tables and pages."""
    if is_flag(name):
        return "yes" if value else "no"
    if name == "login_strategy":
        return str(Strategy(value).label) if value in Strategy.values else str(value)
    special = {
        ("remember_days", 0): "0 (ask every time)",
        ("reuse_blocked", 0): "0 (re-use allowed)",
        ("reuse_blocked", REUSE_ALL): "all previous",
        ("expire_days", 0): "0 (never)",
        ("max_failures", 0): "0 (never lock)",
        ("lock_minutes", 0): "0 (until unlocked)",
        ("min_lowercase", 0): "0 (no rule)",
        ("min_uppercase", 0): "0 (no rule)",
        ("min_digits", 0): "0 (no rule)",
        ("min_symbols", 0): "0 (no rule)",
        ("min_strength", 0): "0 (no rule)",
    }
    if (name, value) in special:
        return special[(name, value)]
    if name == "reuse_blocked":
        return f"last {value}"
    return str(value)


__all__ = [
    "GROUP_FIELDS", "INSTALLATION_FIELDS", "LABELS", "MANAGE_POLICY", "SETTING_FIELDS",
    "STRATEGY_FIELDS", "RuleViolation", "accepted_range", "changed_settings", "combined",
    "delete_group_policy", "describe_value", "effective_settings", "installation_settings_of",
    "save_group_policy", "setting_advice", "setting_problems", "settings_of",
    "strategy_problems", "update_installation_policy",
]
