"""The emailed sign-in code: sending, checking, single use, expiry, resend, lockout, audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, User
from keystead.login import email_codes, factors
from keystead.login.models import EmailCode
from keystead.policy.models import GroupPolicy, LogonPolicy

pytestmark = pytest.mark.django_db
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture(autouse=True)
def second_factor_for_everyone():
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="password+2fa", code_max_attempts=3)


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


@pytest.fixture
def last_code(deliver):
    """The code in the newest mail holding one (a lock notice may follow it), once the
    outbox delivered it."""
    def newest() -> str:
        codes = (re.search(r"^\s+(\d{4,10})\s*$", m.body, re.M) for m in reversed(deliver()))
        return next(found for found in codes if found).group(1)

    return newest


def password_step(client: Client, email: str = "ada@example.com") -> None:
    response = client.post("/login/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/login/verify/"


def open_code_page(client: Client):
    password_step(client)
    return client.get("/login/verify/email/")


def test_email_factor_is_registered_and_needs_a_mail_backend(ada, settings):
    method = factors.get("email")
    assert method is not None and method.label == "Code sent to your email"
    assert method.available(ada)
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.EMAIL_CONFIGURED = False
    assert not method.available(ada)


def test_code_is_mailed_and_signs_in(ada, last_code, deliver):
    client = Client()
    page = open_code_page(client)
    assert page.status_code == 200
    assert "Enter the code we emailed you" in page.content.decode()
    assert len(deliver()) == 1 and deliver()[0].to == ["ada@example.com"]
    code = last_code()
    assert len(code) == 6
    done = client.post("/login/verify/email/", {"code": code})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200
    event = Event.objects.filter(action="login.second_factor", outcome="success").get()
    assert event.detail["method"] == "email"
    sent = Event.objects.get(action="login.email_code.send")
    assert code not in repr(sent.__dict__)


def test_code_length_follows_the_policy(ada, last_code):
    LogonPolicy.objects.filter(pk=1).update(email_code_length=9)
    open_code_page(Client())
    assert len(last_code()) == 9


def test_code_is_stored_hashed(ada, last_code):
    open_code_page(Client())
    code = last_code()
    row = EmailCode.objects.get(user=ada)
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.code_hash == email_codes.hash_code(ada, code)


def test_code_works_once(ada, last_code):
    client = Client()
    open_code_page(client)
    code = last_code()
    assert client.post("/login/verify/email/", {"code": code}).status_code == 302
    other = Client()
    password_step(other)
    # A live code exists no more, so opening the page mails a new one; the old one fails.
    other.get("/login/verify/email/")
    refused = other.post("/login/verify/email/", {"code": code})
    assert refused.status_code == 200 and "not right" in refused.content.decode()
    assert email_codes.check_code(ada, code) is email_codes.Check.WRONG


def test_code_expires_after_ten_minutes(ada, last_code):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        open_code_page(client)
        code = last_code()
        clock.shift(timedelta(minutes=9, seconds=50))
        assert client.post("/login/verify/email/", {"code": "x"}).status_code == 200
        clock.shift(timedelta(seconds=11))
        assert email_codes.check_code(ada, code) is email_codes.Check.EXPIRED
    ada.refresh_from_db()
    assert ada.failed_logins == 1  # the "x"; an expired right code is not counted as a guess


def test_new_code_replaces_the_old_and_keeps_the_failure_count(ada, last_code, deliver):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        open_code_page(client)
        first = last_code()
        client.post("/login/verify/email/", {"code": "000000" if first != "000000" else "111111"})
        ada.refresh_from_db()
        assert ada.failed_logins == 1
        soon = client.post("/login/verify/email/", {"resend": "1"}, follow=True)
        assert "Wait" in soon.content.decode() and len(deliver()) == 1  # rate limited
        clock.shift(timedelta(seconds=31))
        again = client.post("/login/verify/email/", {"resend": "1"}, follow=True)
        assert "We sent a new code" in again.content.decode() and len(deliver()) == 2
        second = last_code()
        ada.refresh_from_db()
        assert ada.failed_logins == 1
        if first != second:
            assert email_codes.check_code(ada, first) is email_codes.Check.WRONG
        assert client.post("/login/verify/email/", {"code": second}).status_code == 302
    ada.refresh_from_db()
    assert ada.failed_logins == 0
    denied = Event.objects.filter(action="login.email_code.send", outcome="denied")
    assert denied.count() == 1


def test_wrong_codes_lock_the_account_like_passwords(ada, django_capture_on_commit_callbacks,
                                                     last_code, deliver):
    client = Client()
    open_code_page(client)
    code = last_code()
    wrong = "123456" if code != "123456" else "654321"
    for _ in range(2):
        response = client.post("/login/verify/email/", {"code": wrong})
        assert "not right" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        locked = client.post("/login/verify/email/", {"code": wrong}, follow=True)
    assert "your account is now locked" in locked.content.decode()
    ada.refresh_from_db()
    assert ada.is_locked() and ada.failed_logins == 3
    lock = Event.objects.get(action="user.lock")
    assert "wrong code (email)" in lock.detail["reason"]
    assert any("locked" in m.subject for m in deliver())
    # The right code no longer works, nor does the right password.
    assert client.post("/login/verify/email/", {"code": code})["Location"] == "/login/"
    again = Client().post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert again.status_code == 200
    assert Event.objects.filter(action="login.second_factor", outcome="failure").count() == 3


def test_wrong_codes_lock_for_the_group_policy_s_longer_period(ada, last_code):
    """Codes lock under the effective policy: a group's longer lock period applies to
    wrong codes as it does to wrong passwords."""
    group = Group.objects.create(name="Finance")
    group.members.add(ada)
    GroupPolicy.objects.create(group=group, lock_minutes=240)
    client = Client()
    open_code_page(client)
    code = last_code()
    wrong = "123456" if code != "123456" else "654321"
    before = timezone.now()
    for _ in range(3):
        client.post("/login/verify/email/", {"code": wrong})
    ada.refresh_from_db()
    assert ada.is_locked()
    assert ada.locked_until >= before + timedelta(minutes=240)


def test_typing_the_password_again_does_not_reset_the_count(ada, last_code):
    client = Client()
    open_code_page(client)
    code = last_code()
    wrong = "123456" if code != "123456" else "654321"
    client.post("/login/verify/email/", {"code": wrong})
    client.post("/login/verify/email/", {"code": wrong})
    fresh = Client()
    password_step(fresh)
    ada.refresh_from_db()
    assert ada.failed_logins == 2
    fresh.post("/login/verify/email/", {"code": wrong})
    ada.refresh_from_db()
    assert ada.is_locked()


def test_admin_unlock_lets_the_person_sign_in_again(ada, last_code):
    from keystead.login import lockout

    client = Client()
    open_code_page(client)
    wrong = "123456" if last_code() != "123456" else "654321"
    for _ in range(3):
        client.post("/login/verify/email/", {"code": wrong})
    ada.refresh_from_db()
    assert ada.is_locked()
    lockout.unlock(ada, actor=OPERATOR, door="test")
    fresh = Client()
    password_step(fresh)
    fresh.get("/login/verify/email/")
    assert fresh.post("/login/verify/email/", {"code": last_code()}).status_code == 302


def test_the_code_page_needs_a_pending_sign_in(ada, deliver):
    response = Client().get("/login/verify/email/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert deliver() == []


def test_wrong_code_is_not_echoed_back(ada):
    client = Client()
    open_code_page(client)
    response = client.post("/login/verify/email/", {"code": "98765432"})
    assert b"98765432" not in response.content


def test_reset_forgets_a_waiting_code(ada):
    open_code_page(Client())
    assert factors.get("email").reset(ada) == 1
    assert not EmailCode.objects.filter(user=ada).exists()
