"""CSRF secrets and masks from one system call: right length, right alphabet, no bias."""

from __future__ import annotations

from collections import Counter

import pytest
from django.middleware import csrf

from keystead.random_strings import random_string

pytestmark = pytest.mark.smoke


def test_length_and_alphabet():
    for length in (0, 1, 32, 500):
        drawn = random_string(length, csrf.CSRF_ALLOWED_CHARS)
        assert len(drawn) == length and set(drawn) <= set(csrf.CSRF_ALLOWED_CHARS)
    assert set(random_string(200, "ab")) == {"a", "b"}


def test_every_character_is_equally_likely():
    """62 characters do not divide 256: without dropping the last 8 byte values, the
    first 8 characters would come 25 % more often than the others."""
    alphabet = csrf.CSRF_ALLOWED_CHARS
    counts = Counter(random_string(len(alphabet) * 3000, alphabet))
    assert set(counts) == set(alphabet)
    # Expected 3000 each, standard deviation about 54: 300 is more than five of them.
    assert all(abs(count - 3000) < 300 for count in counts.values()), counts


def test_two_draws_differ():
    assert random_string(32, csrf.CSRF_ALLOWED_CHARS) != random_string(32, csrf.CSRF_ALLOWED_CHARS)


def test_a_bad_alphabet_is_refused():
    for alphabet in ("", "a", "é" * 3, "x" * 257):
        with pytest.raises(ValueError, match="allowed_chars"):
            random_string(8, alphabet)


def test_django_csrf_draws_its_secrets_and_masks_here():
    assert csrf.get_random_string is random_string
