"""Password rules as pure functions over plain values.

One function, ``password_failures``, answers for every door (self-service
change, admin set-password, the REST API, SCIM, reset and provisioning). It
returns *every* failing rule at once, each with a stable code and a sentence a
person can act on, so a form can list them all and an API can name them.

Guessability is judged by zxcvbn (the ``zxcvbn`` package on PyPI, the
maintained continuation of zxcvbn-python: released 2025 with typing stubs,
where the ``zxcvbn-python`` name stopped at 4.4.24 in 2018; the Rust binding
``zxcvbn-rs-py`` was not faster on the inputs that matter, see
``GUESS_INPUT_LIMIT``). It needs no I/O, so it belongs here with the other
pure rules.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

REUSE_ALL = -1  # block every previous password, not only the last N

#: zxcvbn's scores run from 0 (too guessable) to 4 (very unguessable).
MAX_STRENGTH = 4
#: zxcvbn sees only this many leading characters. Its matching grows steeply with length:
#: measured here, a crafted 32-character string of substitution characters (``@8(3!|...``)
#: costs about 0.4 s, 40 characters 1.4 s and 100 characters several seconds, while
#: ordinary passwords of 32 take 2-25 ms. A sign-in re-checks the typed password when the
#: rules changed since it last passed, so the bound keeps one request from costing a core
#: for seconds. A weakness beyond the
#: 32nd character is not seen; a long password whose start is weak is judged by its start.
GUESS_INPUT_LIMIT = 32
#: zxcvbn keeps the user inputs of a call in a module-level dictionary, so two threads
#: checking at once could judge one person's password against another's name. The call
#: holds the GIL for its whole run anyway, so serialising it costs no throughput.
_ZXCVBN_LOCK = threading.Lock()


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
    # zxcvbn score 0-4 a password must reach (0 = no rule). 3 ("safely unguessable":
    # at least 10^8 guesses) is far beyond online guessing under lockout and is still
    # reached by a few unrelated words; 4 refuses many memorable passphrases.
    min_strength: int = 3

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


def _fragment(sentence: str) -> str:
    """zxcvbn's sentences ("Add a word. Uncommon words are better.") as part of ours
    ("add a word; uncommon words are better"), since a failure is one clause of a sentence."""
    sentence = re.sub(r"\.\s+(\w)", lambda m: "; " + m[1].lower(), sentence.strip().rstrip("."))
    return sentence[:1].lower() + sentence[1:]


def strength(password: str, user_inputs: Iterable[str] = ()) -> dict:
    """zxcvbn's verdict on the first ``GUESS_INPUT_LIMIT`` characters of ``password``."""
    # Imported on first use: loading its word lists takes about 50 ms, which every process
    # that imports the rules (every CLI command, every web process at start-up) would pay.
    from zxcvbn import zxcvbn

    with _ZXCVBN_LOCK:
        return zxcvbn(password[:GUESS_INPUT_LIMIT], user_inputs=list(user_inputs),
                      max_length=GUESS_INPUT_LIMIT)


def person_inputs(person: Person | None) -> list[str]:
    """What zxcvbn should treat as known to an attacker: the person's names and email."""
    if person is None:
        return []
    local = person.email.split("@", 1)[0]
    parts = [person.given_name, person.family_name, person.email, local,
             *re.split(r"[._+\-]", local)]
    return sorted({p.lower() for p in parts if p})


def guessability_failure(password: str, min_strength: int,
                         person: Person | None = None) -> Failure | None:
    """A ``guessable`` failure if zxcvbn scores ``password`` below ``min_strength``.

    The message says what zxcvbn found (a repeat, a sequence, a keyboard row, a
    name) and what to do, in zxcvbn's words; zxcvbn gives no advice for scores
    above 2, so a password just short of a minimum of 4 gets ours.
    """
    if min_strength <= 0:
        return None
    verdict = strength(password, person_inputs(person))
    score = int(verdict["score"])
    if score >= min_strength:
        return None
    feedback = verdict.get("feedback") or {}
    found = _fragment(feedback.get("warning") or "")
    if not found and any(m.get("dictionary_name") == "user_inputs"
                         for m in verdict.get("sequence") or ()):
        # zxcvbn has no words of its own for this case.
        found = "it is built from your name or email address"
    if not found:
        found = (f"it scores {score} of {MAX_STRENGTH} for strength, the policy asks for "
                 f"{min_strength}")
    fixes = [_fragment(s) for s in feedback.get("suggestions") or () if s.strip()]
    if not fixes:
        fixes = ["add another word or two: a few unrelated words make a long password "
                 "that is hard to guess and easy to remember"]
    return Failure("guessable", f"is too easy to guess ({found}): {'; '.join(fixes)}")


def password_failures(
    password: str,
    rules: PasswordRules,
    *,
    person: Person | None = None,
    is_common: Callable[[str], bool] | None = None,
    matches_previous: Callable[[str], bool] | None = None,
) -> list[Failure]:
    """Every rule ``password`` breaks. The I/O-bound checks come in as callables.

    ``is_common`` gets the NFKC-normalised password with its case kept: a breach
    corpus such as Pwned Passwords holds hashes of passwords exactly as typed, and
    the screening compares the lower-cased form as well.
    """
    password = normalize(password)
    failures = composition_failures(password, rules)
    lowered = password.lower()
    common = rules.screen_common and is_common is not None and is_common(password)
    if common:
        failures.append(Failure(
            "common", "is too common: it appears in lists of breached or often-used passwords"))
    # A listed password needs no second verdict saying the same in other words.
    guessable = None if common else guessability_failure(password, rules.min_strength, person)
    if guessable is not None:
        failures.append(guessable)
    personal = personal_words(person) if rules.screen_personal and person is not None else []
    if any(word in lowered for word in personal):
        failures.append(Failure("personal", "must not contain your name or email address"))
    if rules.reuse_blocked and matches_previous is not None and matches_previous(password):
        failures.append(Failure("reused", "must not be one of your previous passwords"))
    return failures


def describe(failures: Iterable[Failure]) -> str:
    """One sentence for a form or an error body: "The password must ...; must ..."."""
    return "The password " + "; ".join(f.message for f in failures) + "."
