from keystead.policy.rules import (
    REUSE_ALL,
    PasswordRules,
    Person,
    describe,
    password_failures,
)
from keystead.policy.screening import build, is_common

# Guessability off: these tests are about the composition rules; test_guessability covers it.
STRICT = PasswordRules(min_length=10, min_lowercase=1, min_uppercase=1, min_digits=1,
                       min_symbols=1, min_strength=0)


def codes(failures):
    return [f.code for f in failures]


def test_every_failing_rule_is_listed_at_once():
    failures = password_failures("abc", STRICT)
    assert codes(failures) == ["min_length", "min_uppercase", "min_digits", "min_symbols"]
    assert describe(failures) == (
        "The password must be at least 10 characters long; must contain an uppercase letter; "
        "must contain a number; must contain a symbol (such as @ & < =)."
    )


def test_a_compliant_password_passes_every_rule():
    assert password_failures("Quartz-Zebra-9", STRICT) == []


def test_minimum_counts_above_one():
    rules = PasswordRules(min_length=1, min_digits=2, min_strength=0)
    assert codes(password_failures("a1", rules)) == ["min_digits"]
    assert password_failures("a12", rules) == []


def test_maximum_length_allows_at_least_64_by_default():
    passphrase = "Harbour violet compass lantern orchid tapestry meadow quartz sparrow"
    assert len(passphrase) > 64
    assert password_failures(passphrase, PasswordRules(screen_common=False)) == []
    assert codes(password_failures("x" * 200, PasswordRules())) == ["max_length", "guessable"]


def test_nist_defaults_need_15_characters_and_no_composition():
    assert codes(password_failures("short", PasswordRules())) == ["min_length", "guessable"]
    assert password_failures("correct horse battery", PasswordRules()) == []


def test_personal_information_is_refused():
    person = Person(email="ada.lovelace@example.com", given_name="Ada", family_name="Lovelace")
    failures = password_failures("my-lovelace-password", PasswordRules(), person=person)
    assert codes(failures) == ["personal"]


def test_common_passwords_are_screened_case_insensitively():
    failures = password_failures("Password1", PasswordRules(min_length=1), is_common=is_common)
    assert codes(failures) == ["common"]


def test_reuse_uses_the_history_callable():
    failures = password_failures("Quartz-Zebra-9-long", PasswordRules(reuse_blocked=3),
                                 matches_previous=lambda p: p == "Quartz-Zebra-9-long")
    assert codes(failures) == ["reused"]


def test_strictest_rule_of_each_kind_wins():
    site = PasswordRules(min_length=12, max_length=128, reuse_blocked=5, min_strength=2)
    group = PasswordRules(min_length=8, max_length=64, min_digits=1, reuse_blocked=REUSE_ALL,
                          min_strength=4)
    merged = site.strictest(group)
    assert (merged.min_length, merged.max_length, merged.min_digits, merged.reuse_blocked,
            merged.min_strength) == (12, 64, 1, REUSE_ALL, 4)
    assert group.strictest(site).min_strength == 4  # the higher score, whichever side


def test_bloom_filter_has_no_false_negatives_and_few_false_positives():
    words = [f"word{i}" for i in range(5000)]
    bloom = build(words)
    assert all(w in bloom for w in words)
    false_hits = sum(f"other{i}" in bloom for i in range(20000))
    assert false_hits < 20
