"""The guessability rule (zxcvbn): what the 15-character minimum and the list let through.

Pure rules, no database: the same function answers for every door, and the
tests through the REST API and the portal are in tests/api and tests/e2e.
"""

from __future__ import annotations

import time

import pytest

from keystead.policy.rules import (
    GUESS_INPUT_LIMIT,
    PasswordRules,
    Person,
    describe,
    guessability_failure,
    password_failures,
    person_inputs,
)
from keystead.policy.screening import is_common

DEFAULTS = PasswordRules()
ADA = Person(email="ada.lovelace@example.com", given_name="Ada", family_name="Lovelace")


def codes(failures):
    return [f.code for f in failures]


@pytest.mark.parametrize("password", [
    "passwordpassword",  # a repeat: not in the list, 16 characters
    "1234567890123456",  # a sequence
    "qwertyuiopasdfghjkl",  # a keyboard walk
    "asdfghjkl;'zxcvbnm",
    "abcdefghijklmnop",
])
def test_long_but_guessable_passwords_pass_the_list_and_fail_guessability(password):
    assert len(password) >= 15
    assert not is_common(password)  # the finding: the shipped list alone lets them through
    assert codes(password_failures(password, DEFAULTS, is_common=is_common)) == ["guessable"]


@pytest.mark.parametrize("password", [
    "Harbour-Violet-Compass-73", "correct horse battery staple", "Zq8!mLp2#vRt6@Kw",
])
def test_strong_passwords_pass(password):
    assert password_failures(password, DEFAULTS, person=ADA, is_common=is_common) == []


def test_the_message_says_what_was_found_and_how_to_fix_it():
    repeat = guessability_failure("passwordpassword", 3)
    assert repeat is not None and repeat.code == "guessable"
    assert repeat.message.startswith('is too easy to guess (repeats like "abcabcabc" are only')
    assert "avoid repeated words and characters" in repeat.message
    walk = guessability_failure("asdfghjkl;'zxcvbnm", 3)
    assert "straight rows of keys are easy to guess" in walk.message
    assert "add another word or two" in walk.message
    sentence = describe([repeat])
    assert sentence.startswith("The password is too easy to guess (") and sentence.endswith(".")
    assert ".." not in sentence and "..)" not in sentence


def test_just_below_a_minimum_of_four_gets_our_own_advice():
    # zxcvbn gives no feedback above score 2, so the rule says the score and the fix.
    failure = guessability_failure("adalovelaceexample", 4)
    assert failure is not None
    assert "it scores 3 of 4 for strength, the policy asks for 4" in failure.message
    assert "add another word or two" in failure.message


def test_the_minimum_score_is_a_policy_setting():
    assert DEFAULTS.min_strength == 3
    assert guessability_failure("passwordpassword", 0) is None  # 0 = no rule
    assert guessability_failure("1qaz2wsx3edc4rfv5tgb", 2) is None  # scores 2
    assert guessability_failure("1qaz2wsx3edc4rfv5tgb", 3) is not None


def test_the_persons_name_and_email_count_as_known_to_an_attacker():
    assert person_inputs(ADA) == ["ada", "ada.lovelace", "ada.lovelace@example.com",
                                  "lovelace"]
    assert guessability_failure("ada.lovelace@example.com", 3) is None  # a stranger's email
    own = guessability_failure("adaada.lovelace", 3, ADA)  # 15 characters
    assert own is not None
    assert own.message.startswith("is too easy to guess (it is built from your name or email")
    assert guessability_failure("ada.lovelace@example.com", 3, ADA) is not None
    # screen_personal off: guessability still sees the name
    rules = PasswordRules(screen_personal=False)
    assert codes(password_failures("ada.lovelace@example.com", rules, person=ADA)) == [
        "guessable"]


def test_a_listed_password_is_not_reported_twice():
    failures = password_failures("Password1", PasswordRules(min_length=1), is_common=is_common)
    assert codes(failures) == ["common"]


def test_only_the_first_characters_are_scored_so_a_long_password_costs_little():
    # Characters crafted to make zxcvbn's substitution matching explode, far past the bound.
    crafted = "@8(3691!|7$0+%2" * 400
    started = time.perf_counter()
    password_failures(crafted, PasswordRules(max_length=4096))
    assert time.perf_counter() - started < 5  # about 0.4 s at 32 characters; minutes at 6,000
    weak_start = "a" * GUESS_INPUT_LIMIT + "Harbour-Violet-Compass-73"
    assert guessability_failure(weak_start, 3) is not None
