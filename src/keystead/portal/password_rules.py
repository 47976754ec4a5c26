"""The password rules in plain words, shown before a person chooses a new password.

A person should not have to fail once to learn the rules, so the change pages
list what the policy that applies to them asks (``effective_policy(user).password``)
before the first attempt. The words match the failure messages of
``policy.rules.password_failures``, which name the same rules after an attempt.
"""

from __future__ import annotations

from keystead.policy.rules import REUSE_ALL, PasswordRules


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rules_in_words(rules: PasswordRules) -> list[str]:
    """Each rule as the end of "Your new password must …", in the order people check them."""
    words = [f"be at least {_count(rules.min_length, 'character')} long"
             f" (at most {rules.max_length})"]
    for needed, what in ((rules.min_lowercase, "lowercase letter"),
                         (rules.min_uppercase, "uppercase letter"),
                         (rules.min_digits, "number"),
                         (rules.min_symbols, "symbol (such as @ & < =)")):
        if needed:
            words.append(f"contain at least {_count(needed, what)}" if needed > 1 else
                         f"contain {'an' if what[0] in 'aeiou' else 'a'} {what}")
    if rules.min_strength:
        words.append("be hard to guess: no repeats, sequences, keyboard rows or common words "
                     "on their own")
    if rules.screen_common:
        words.append("not be a common password or one known from data breaches")
    if rules.screen_personal:
        words.append("not contain your name or email address")
    if rules.reuse_blocked == REUSE_ALL:
        words.append("not be a password you have used before")
    elif rules.reuse_blocked:
        words.append(f"not be one of your last {_count(rules.reuse_blocked, 'password')}"
                     if rules.reuse_blocked > 1 else "not be your current password")
    return words


#: Said after the rules: how to meet them without a password manager.
TIP = ("Tip: a few unrelated words with spaces or dashes between them make a long password "
       "that is easy to remember and hard to guess.")
