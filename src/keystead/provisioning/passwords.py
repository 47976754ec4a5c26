"""Password policies of connected systems: the rules they validate with, and generation.

Pure functions over a ``PasswordPolicy`` row's values, so validation reuses the
one rule engine every door uses (``keystead.policy.rules.password_failures``)
and generation is testable without a database.
"""

from __future__ import annotations

import secrets
import string

from keystead.policy.rules import Failure, PasswordRules, Person, password_failures
from keystead.secret import Secret

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
#: Symbols that need no quoting in LDIF, SQL, shells or URLs.
SYMBOLS = "-_.!#%+=:,@^~"


def rules_of(policy) -> PasswordRules:
    """A system policy's rules: composition and length only. Guessability, breach lists,
    personal words and re-use are the installation policy's business, checked before."""
    return PasswordRules(min_length=policy.min_length, max_length=policy.max_length,
                         min_lowercase=policy.min_lowercase, min_uppercase=policy.min_uppercase,
                         min_digits=policy.min_digits, min_symbols=policy.min_symbols,
                         reuse_blocked=0, screen_common=False, screen_personal=False,
                         min_strength=0)


def failures(policy, password: Secret, person: Person | None = None) -> list[Failure]:
    return password_failures(password.reveal(), rules_of(policy), person=person)


def generate(policy) -> Secret:
    """A random password meeting ``policy``: the required characters of each class, the
    rest from all classes, shuffled with the system's CSPRNG."""
    length = min(max(policy.generated_length, policy.min_length), policy.max_length)
    required = ([secrets.choice(LOWER) for _ in range(policy.min_lowercase)]
                + [secrets.choice(UPPER) for _ in range(policy.min_uppercase)]
                + [secrets.choice(DIGITS) for _ in range(policy.min_digits)]
                + [secrets.choice(SYMBOLS) for _ in range(policy.min_symbols)])
    if len(required) > length:
        raise ValueError(f"password policy {policy.name!r}: the character minimums add up to "
                         f"{len(required)}, more than the maximum length {policy.max_length}; "
                         "lower a minimum or raise the maximum length.")
    alphabet = LOWER + UPPER + DIGITS + SYMBOLS
    chars = required + [secrets.choice(alphabet) for _ in range(length - len(required))]
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return Secret("".join(chars))
