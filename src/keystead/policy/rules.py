"""Password rules as pure functions over plain values.

One function, ``password_failures``, answers for every door (self-service
change, admin set-password, the REST API, SCIM, reset and provisioning). It
returns *every* failing rule at once, each with a stable code and a sentence a
person can act on, so a form can list them all and an API can name them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

REUSE_ALL = -1  # block every previous password, not only the last N


@dataclass(frozen=True)
class PasswordRules:
    """The password part of a logon policy. Defaults follow NIST SP 800-63B-4."""

    min_length: int = 15
    max_length: int = 128
    min_lowercase: int = 0
    min_uppercase: int = 0
    min_digits: int = 0
    min_symbols: int = 0
    reuse_blocked: int = 0  # 0 = allowed, N = the last N, REUSE_ALL = all of them
    screen_common: bool = True
    screen_personal: bool = True

    def strictest(self, other: PasswordRules) -> PasswordRules:
        """The stricter value of each rule: a group policy can only tighten."""
        merged = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "max_length":
                merged[f.name] = min(mine, theirs)
            elif f.name == "reuse_blocked":
                merged[f.name] = REUSE_ALL if REUSE_ALL in (mine, theirs) else max(mine, theirs)
            else:
                merged[f.name] = max(mine, theirs)
        return PasswordRules(**merged)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class Person:
    """What the personal-information screen compares a password against."""

    email: str = ""
    given_name: str = ""
    family_name: str = ""


def _count(password: str, test: Callable[[str], bool]) -> int:
    return sum(1 for ch in password if test(ch))


def _is_symbol(ch: str) -> bool:
    return not ch.isalnum() and not ch.isspace()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def normalize(password: str) -> str:
    """NFKC, as NIST asks, so look-alike encodings of one password compare equal."""
    return unicodedata.normalize("NFKC", password)


def personal_words(person: Person) -> list[str]:
    """Parts of the person's name and email long enough to matter (4+ characters)."""
    local = person.email.split("@", 1)[0]
    candidates = [person.given_name, person.family_name, local,
                  *re.split(r"[._+\-]", local)]
    return sorted({c.lower() for c in candidates if len(c) >= 4})


def composition_failures(password: str, rules: PasswordRules) -> list[Failure]:
    failures = []
    length = len(password)
    if length < rules.min_length:
        failures.append(Failure(
            "min_length", f"must be at least {_plural(rules.min_length, 'character')} long"))
    if length > rules.max_length:
        failures.append(Failure(
            "max_length", f"must be at most {_plural(rules.max_length, 'character')} long"))
    checks = (
        ("min_lowercase", rules.min_lowercase, str.islower, "lowercase letter"),
        ("min_uppercase", rules.min_uppercase, str.isupper, "uppercase letter"),
        ("min_digits", rules.min_digits, str.isdigit, "number"),
        ("min_symbols", rules.min_symbols, _is_symbol, "symbol (such as @ & < =)"),
    )
    for code, needed, test, word in checks:
        if needed and _count(password, test) < needed:
            article = "an" if word[0] in "aeiou" else "a"
            what = f"{article} {word}" if needed == 1 else f"at least {needed} of: {word}"
            failures.append(Failure(code, f"must contain {what}"))
    return failures


def password_failures(
    password: str,
    rules: PasswordRules,
    *,
    person: Person | None = None,
    is_common: Callable[[str], bool] | None = None,
    matches_previous: Callable[[str], bool] | None = None,
) -> list[Failure]:
    """Every rule ``password`` breaks. The I/O-bound checks come in as callables."""
    password = normalize(password)
    failures = composition_failures(password, rules)
    lowered = password.lower()
    if rules.screen_common and is_common is not None and is_common(lowered):
        failures.append(Failure(
            "common", "is too common: it appears in lists of breached or often-used passwords"))
    personal = personal_words(person) if rules.screen_personal and person is not None else []
    if any(word in lowered for word in personal):
        failures.append(Failure("personal", "must not contain your name or email address"))
    if rules.reuse_blocked and matches_previous is not None and matches_previous(password):
        failures.append(Failure("reused", "must not be one of your previous passwords"))
    return failures


def describe(failures: Iterable[Failure]) -> str:
    """One sentence for a form or an error body: "The password must ...; must ..."."""
    return "The password " + "; ".join(f.message for f in failures) + "."
