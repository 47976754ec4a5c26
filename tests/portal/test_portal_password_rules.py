"""The password rules shown before the first attempt, and focus on the field in error."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from keystead.directory.models import Event
from keystead.policy.models import LogonPolicy
from keystead.policy.rules import REUSE_ALL, PasswordRules
from keystead.portal.password_rules import rules_in_words

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_rules_in_words_name_each_rule_that_applies():
    words = rules_in_words(PasswordRules(min_length=16, min_digits=2, min_uppercase=1,
                                         min_symbols=1, reuse_blocked=3))
    assert words[0] == "be at least 16 characters long (at most 128)"
    assert "contain at least 2 numbers" in words
    assert "contain an uppercase letter" in words
    assert "contain a symbol (such as @ & < =)" in words
    assert "not be one of your last 3 passwords" in words
    assert "not be a common password or one known from data breaches" in words
    assert "not contain your name or email address" in words
    assert not any("lowercase" in w for w in words)


def test_rules_in_words_leave_out_what_is_off():
    words = rules_in_words(PasswordRules(min_length=8, min_strength=0, screen_common=False,
                                         screen_personal=False, reuse_blocked=REUSE_ALL))
    assert words == ["be at least 8 characters long (at most 128)",
                     "not be a password you have used before"]
    assert rules_in_words(PasswordRules(reuse_blocked=1))[-1] == "not be your current password"


def rules_block(html: str) -> str:
    found = re.search(r'<ul id="password-rules">(.*?)</ul>', html, re.S)
    assert found, "no password rules on the page"
    return found.group(1)


def test_change_page_states_the_rules_before_any_attempt(ada, browser_of):
    LogonPolicy.objects.filter(pk=1).update(min_length=17, min_digits=2)
    page = browser_of().get("/password/change/").content.decode()
    rules = rules_block(page)
    assert "be at least 17 characters long" in rules
    assert "contain at least 2 numbers" in rules
    assert page.index('id="password-rules"') < page.index('name="new_password"')
    assert 'aria-describedby="password-rules"' in page  # the field points at them
    assert "errorlist" not in page and "autofocus" not in page


def test_forced_change_page_states_the_rules_before_any_attempt(ada):
    ada.must_change_password = True
    ada.save(update_fields=["must_change_password"])
    LogonPolicy.objects.filter(pk=1).update(min_length=18)
    client = Client()
    answer = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert answer["Location"] == "/password/change-required/"
    page = client.get("/password/change-required/").content.decode()
    assert "be at least 18 characters long" in rules_block(page)
    assert "errorlist" not in page


def test_a_forced_change_completes_the_sign_in_and_names_the_person(ada):
    ada.must_change_password = True
    ada.save(update_fields=["must_change_password"])
    client = Client()
    client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    new = "Lantern-Harbour-Quartz-5521"
    done = client.post("/password/change-required/", {"new_password": new,
                                                      "confirm_password": new})
    assert done.status_code == 302 and client.get("/").status_code == 200
    events = list(Event.objects.order_by("id").values_list("action", "outcome", "actor_label"))
    assert events[-3:] == [("login", "denied", "ada@example.com"),
                           ("user.password.change", "success", "ada@example.com"),
                           ("login", "success", "ada@example.com")]
    assert Event.objects.order_by("id").last().detail == {
        "door": "portal", "after": "required password change"}


def _autofocused(html: str) -> list[str]:
    return re.findall(r'<input[^>]*\bname="(\w+)"[^>]*\bautofocus\b', html) + \
        re.findall(r'<input[^>]*\bautofocus\b[^>]*\bname="(\w+)"', html)


def test_focus_moves_to_the_first_field_in_error(ada, browser_of):
    client = browser_of()
    weak = client.post("/password/change/", {"current_password": PASSWORD,
                                             "new_password": "short",
                                             "confirm_password": "short"}).content.decode()
    assert _autofocused(weak) == ["new_password"]
    assert re.search(r'name="new_password"[^>]*aria-invalid="true"', weak)
    assert 'aria-describedby="password-rules id_new_password-errors"' in weak

    wrong = client.post("/password/change/", {"current_password": "not it",
                                              "new_password": "Lantern-Quartz-887-Heron!",
                                              "confirm_password": "Lantern-Quartz-887-Heron!",
                                              }).content.decode()
    assert _autofocused(wrong) == ["current_password"]

    mismatch = client.post("/password/change/", {"current_password": PASSWORD,
                                                 "new_password": "Lantern-Quartz-887-Heron!",
                                                 "confirm_password": "Lantern-Quartz-887-Heron"
                                                 }).content.decode()
    assert _autofocused(mismatch) == ["confirm_password"]
    assert "be at least 15 characters long" in rules_block(mismatch)  # still shown
