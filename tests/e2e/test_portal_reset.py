"""Password reset end to end: a real browser, a real SMTP server (aiosmtpd), the live server."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login.models import ResetToken
from keystead.login.reset import ANSWER

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as

pytestmark = pytest.mark.django_db(transaction=True)

NEW = "Quartz-Heron-Lantern-97"
LINK = re.compile(r"https?://\S+/reset/[A-Za-z0-9_-]+")


@pytest.fixture
def mailbox(smtp_server, mail_sender, settings, live_server):
    """aiosmtpd, fed by the background sender thread as in a web process."""
    settings.BASE_URL = live_server.url  # the mailed link points at the server under test
    return smtp_server


def ask_for_link(page, email: str = "ada@example.com") -> None:
    from playwright.sync_api import expect

    page.goto("/reset")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_have_text(ANSWER)


def link_in(mailbox, number: int) -> str:
    message = mailbox.wait_for(number)[number - 1]
    assert message["To"] == "ada@example.com"
    return LINK.search(mailbox.text_of(message)).group(0)


def expect_link_gone(page, link: str) -> None:
    from playwright.sync_api import expect

    page.goto(link)
    expect(page.get_by_role("alert")).to_have_text(
        "This link has expired or was already used — request a new one.")
    expect(page.get_by_role("link", name="Request a new link")).to_have_attribute("href", "/reset")


@pytest.mark.browser
def test_reset_through_a_mailed_link(page, person, mailbox):
    from playwright.sync_api import expect

    page.goto("/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url("/reset")
    ask_for_link(page)
    link = link_in(mailbox, 1)
    assert link.startswith(page.url.split("/reset")[0] + "/reset/")

    page.goto(link)
    expect(page).to_have_url("/reset/new-password")  # the token left the address bar
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("lovelace")
    page.get_by_label("New password again", exact=True).fill("lovelace")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.locator("#id_new_password-errors")).to_contain_text("at least 15 characters")
    expect(page.locator("#id_new_password-errors")).to_contain_text("your name or email")
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again", exact=True).fill(NEW)
    page.get_by_role("button", name="Save the new password").click()
    expect(page).to_have_url("/login/")
    expect(page.locator(".messages")).to_contain_text("Your password is changed")

    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)  # the old one no longer works
    expect(page.get_by_role("alert")).to_contain_text("not right")
    sign_in_as(page, "ada@example.com", NEW)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()

    expect_link_gone(page, link)  # works once
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-reset-gone.png"), full_page=True)
    assert Event.objects.filter(action="user.password.reset", outcome="success",
                                target_id=str(person.pk)).count() == 1
    assert Event.objects.filter(action="user.password.reset", outcome="denied",
                                detail__reason="link already used").exists()


@pytest.mark.browser
def test_a_newer_link_invalidates_the_older(page, person, mailbox):
    from playwright.sync_api import expect

    # One mail a minute per account: the second request is made 61 seconds after the
    # first mail arrived (the clock ticks on while the first page loads and the mail goes).
    with time_machine.travel(timezone.now(), tick=True):
        ask_for_link(page)
        older = link_in(mailbox, 1)
        first_sent = timezone.now()
    with time_machine.travel(first_sent + timedelta(seconds=61), tick=True):
        ask_for_link(page)
        newer = link_in(mailbox, 2)
        assert older != newer
        expect_link_gone(page, older)
        page.goto(newer)
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        page.get_by_label("New password", exact=True).fill(NEW)
        page.get_by_label("New password again", exact=True).fill(NEW)
        page.get_by_role("button", name="Save the new password").click()
        expect(page).to_have_url("/login/")
    assert User.objects.get(pk=person.pk).check_password(NEW)


@pytest.mark.browser
def test_reset_pages_on_a_phone(phone_page, person, mailbox):
    from playwright.sync_api import expect

    page = phone_page
    shots = {}
    page.goto("/reset")
    shots["request"] = page.screenshot(
        path=str(SCREENSHOT_DIR / "keystead-portal-reset-request-phone.png"), full_page=True)
    ask_for_link(page)
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-reset-sent-phone.png"),
                    full_page=True)
    page.goto(link_in(mailbox, 1))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again", exact=True).fill("short")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.locator("#id_new_password-errors")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-reset-choose-phone.png"),
                    full_page=True)
    page.goto("/reset/no-such-link")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-reset-gone-phone.png"),
                    full_page=True)


@pytest.mark.browser
def test_the_answer_does_not_wait_for_the_mail_server(page, person, mailbox):
    """A slow mail server must not make a real address answer slower than an unknown one."""
    from playwright.sync_api import expect

    mailbox.delay = 2.0
    page.goto("/reset")
    page.get_by_label("Email").fill("ada@example.com")
    began = time.perf_counter()
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_have_text(ANSWER)
    answered = time.perf_counter() - began
    assert answered < 1.5, f"the answer took {answered:.2f}s: it waited for the mail"
    link_in(mailbox, 1)
    assert time.perf_counter() - began >= 2.0


def _form_client(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=20)
    form = client.get("/reset").text
    return client, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def test_concurrent_requests_send_one_mail(person, mailbox, live_server):
    """Eight simultaneous requests for one account (the live server is threaded)."""
    clients = [_form_client(live_server.url) for _ in range(8)]
    start = threading.Barrier(len(clients))
    answers: list[int] = []

    def ask(client: httpx.Client, csrf: str) -> None:
        start.wait()
        answers.append(client.post("/reset", data={"email": "ada@example.com",
                                                   "csrfmiddlewaretoken": csrf}).status_code)

    threads = [threading.Thread(target=ask, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 8
    mailbox.wait_for(1)
    time.sleep(0.5)  # a second mail, if there were one, would have arrived by now
    assert len(mailbox.messages) == 1
    assert ResetToken.objects.filter(user=person).count() == 1
    outcomes = sorted(Event.objects.filter(action="user.password.reset.request")
                      .values_list("outcome", flat=True))
    assert outcomes == ["denied"] * 7 + ["success"]
    for client, _ in clients:
        client.close()
