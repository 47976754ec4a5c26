"""Mail goes through the outbox: off the request path, encrypted at rest, retried, visible.

Issue 15 found the reset form and the locking sign-in slower for real accounts
with a slow mail server (an enumeration oracle), and every web worker stalled
by a hung one. These tests drive real SMTP servers (aiosmtpd, ``smtp_server``
in tests/conftest.py): one that hangs after DATA, one that refuses, one that
accepts. Delivery runs either in the test's thread (``deliver``, or
``outbox.deliver_due``), in the background thread a web process runs
(``mail_sender``), or in separate ``keystead`` processes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from click.testing import CliRunner
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from keystead import crypto
from keystead.cli import main
from keystead.directory.models import Event, User
from keystead.login import email_codes, outbox
from keystead.login.models import OutgoingMail

from .helpers_live import database_url, live_keystead, server_env

PASSWORD = "Vellum-Orchid-Tapestry-42"
LINK = re.compile(r"https?://\S+/reset/([A-Za-z0-9_-]+)")
FAST = 3.0  # seconds: generous for a loaded machine, far below a hung server's timeout


def make_person(email: str = "ada@example.com") -> User:
    return User.objects.create_user(email, "Ada", "Lovelace", password=PASSWORD)


def wait_until(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds}s")
        time.sleep(0.05)


@pytest.mark.django_db
@pytest.mark.smoke
def test_mail_is_queued_encrypted_and_erased_once_sent(deliver):
    make_person()
    assert Client().post("/reset", {"email": "ada@example.com"}).status_code == 200
    row = OutgoingMail.objects.get()
    assert (row.status, row.attempts, row.recipient) == ("queued", 0, "ada@example.com")
    assert row.subject == "Reset your Keystead password"
    clear = crypto.decrypt(row.body_encrypted, outbox.PURPOSE).reveal()
    token = LINK.search(clear).group(1)
    assert token not in row.body_encrypted and "reset" not in row.body_encrypted

    [message] = deliver()
    assert token in message.body and message.to == ["ada@example.com"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.body_encrypted, row.last_error) == ("sent", 1, "", "")
    assert row.sent_at is not None


@pytest.mark.django_db
@pytest.mark.smoke
def test_a_rolled_back_transaction_mails_nothing(deliver):
    ada = make_person()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert email_codes.send_code(ada).sent
        assert OutgoingMail.objects.count() == 1
        raise RuntimeError("the sign-in failed after the code was made")
    assert not OutgoingMail.objects.exists()
    assert deliver() == []


@pytest.mark.django_db(transaction=True)
def test_reset_answers_fast_and_alike_while_the_mail_server_hangs(smtp_server, mail_sender,
                                                                  settings):
    """The finding: a hung mail server stalled every worker, and a slow one made real
    addresses answer slower. Now the background sender is stuck, not the requests."""
    settings.EMAIL_TIMEOUT = 10
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        make_person(email)
    smtp_server.hang.set()
    Client().post("/reset", {"email": "ada@example.com"})
    wait_until(lambda: smtp_server.tries >= 1)  # the sender sits in DATA, waiting

    answers, seconds = [], []
    for email in ("bob@example.com", "nobody@example.com", "cy@example.com",
                  "nobody-else@example.com"):
        began = time.monotonic()
        response = Client().post("/reset", {"email": email})
        seconds.append(time.monotonic() - began)
        answers.append((response.status_code, response.content))
    assert max(seconds) < FAST, seconds
    assert len(set(answers)) == 1  # known and unknown addresses: the very same answer
    assert smtp_server.messages == []
    assert OutgoingMail.objects.filter(status="queued").count() == 3

    smtp_server.hang.clear()  # the mail server answers again
    delivered = smtp_server.wait_for(3, timeout=20)
    assert sorted(m["To"] for m in delivered) == ["ada@example.com", "bob@example.com",
                                                   "cy@example.com"]
    wait_until(lambda: OutgoingMail.objects.filter(status="sent").count() == 3)
    assert smtp_server.tries == 3  # each sent once
    assert not OutgoingMail.objects.exclude(body_encrypted="").exists()


@pytest.mark.django_db
def test_a_hung_server_costs_one_timeout_then_the_mail_is_retried(smtp_server, settings):
    settings.EMAIL_TIMEOUT = 1
    ada = make_person()
    outbox.enqueue(ada.email, "Hello", "a body", user=ada)
    smtp_server.hang.set()
    began = time.monotonic()
    first = outbox.deliver_due()
    assert time.monotonic() - began < 1 + FAST  # bounded by EMAIL_TIMEOUT, not by the server
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    row = OutgoingMail.objects.get()
    assert row.status == "queued" and row.attempts == 1
    assert row.last_error == "no answer from the mail server within 1 s"
    assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=30)
    assert outbox.deliver_due().attempted == 0  # not due before its retry time

    smtp_server.hang.clear()
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=False):
        assert outbox.deliver_due().sent == 1
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2 and row.body_encrypted == ""
    # The server may also keep the copy it got before the timeout, as real ones may:
    # delivery is at least once.
    assert smtp_server.wait_for(1)[-1]["Subject"] == "Hello"


@pytest.mark.django_db
@pytest.mark.smoke
def test_a_refusing_server_is_retried_then_given_up_audited_and_reported(smtp_server):
    smtp_server.refuse = "451 4.3.0 Try again later"
    ada = make_person()
    outbox.enqueue(ada.email, "Your Keystead account is locked", "a body", user=ada)
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS):
        row = OutgoingMail.objects.get()
        with time_machine.travel(row.next_attempt_at, tick=False):
            outbox.deliver_due()
        row.refresh_from_db()
        if row.status == "queued":
            waits.append((row.next_attempt_at - row.last_attempt_at).total_seconds())
    assert waits == [30, 60, 120, 240, 480]  # doubling
    assert smtp_server.tries == outbox.MAX_ATTEMPTS and smtp_server.messages == []
    assert (row.status, row.attempts, row.body_encrypted) == ("failed", outbox.MAX_ATTEMPTS, "")
    assert row.last_error == "the mail server answered 451 4.3.0 Try again later"

    event = Event.objects.get(action="mail.failed")
    assert event.outcome == "failure" and event.target_id == str(ada.pk)
    assert event.detail["attempts"] == outbox.MAX_ATTEMPTS and event.detail["mail_id"] == row.pk
    assert "a body" not in repr(event.__dict__)

    checked = CliRunner().invoke(main, ["check"], env={"COLUMNS": "250"})
    assert ("WARN  mail outbox: 1 mail(s) given up on in the last 7 days (last error: the mail "
            "server answered 451 4.3.0 Try again later)") in checked.stdout
    assert "keystead mail list" in checked.stdout

    listed = CliRunner().invoke(main, ["mail", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0
    assert "failed" in listed.stdout and "ada@example.com" in listed.stdout
    assert "451 4.3.0 Try again later" in listed.stdout and "a body" not in listed.stdout


@pytest.mark.django_db
def test_check_and_list_are_quiet_when_all_is_well(smtp_server, deliver):
    ada = make_person()
    outbox.enqueue(ada.email, "Hello", "a body", user=ada)
    deliver()
    checked = CliRunner().invoke(main, ["check"], env={"COLUMNS": "250"})
    assert "OK    mail outbox: nothing failed or stuck" in checked.stdout
    assert "No mail waiting and none failed." in CliRunner().invoke(main, ["mail", "list"]).stdout
    everything = CliRunner().invoke(main, ["mail", "list", "--all"], env={"COLUMNS": "250"})
    assert "sent" in everything.stdout and "Hello" in everything.stdout
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        outbox.enqueue(ada.email, "Old", "another body", user=ada)
    with time_machine.travel(timezone.now() + timedelta(minutes=32), tick=False):
        late = CliRunner().invoke(main, ["check"], env={"COLUMNS": "250"})
    assert "WARN  mail outbox: 1 mail(s) waiting for more than 15 minutes" in late.stdout


@pytest.mark.django_db
def test_the_console_lists_the_outbox_without_bodies(smtp_server, admin_user):
    ada = make_person()
    outbox.enqueue(ada.email, "Queued subject", "secret body text", user=ada)
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/login/outgoingmail/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Queued subject" in page and "ada@example.com" in page
    assert "secret body text" not in page
    row = OutgoingMail.objects.get()
    detail = client.get(f"/admin/login/outgoingmail/{row.pk}/change/").content.decode()
    assert "Queued subject" in detail and row.body_encrypted not in detail
    assert "secret body text" not in detail
    assert client.get("/admin/login/outgoingmail/add/").status_code == 403
    assert client.post(f"/admin/login/outgoingmail/{row.pk}/delete/",
                       {"post": "yes"}).status_code == 403


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_sender_processes_never_send_one_mail_twice(smtp_server, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks across processes")
    count = 40
    for i in range(count):
        outbox.enqueue(f"person{i}@example.com", f"Mail number {i}", f"body {i}")
    smtp_server.delay = 0.1  # each mail takes a while, so the two senders overlap
    env = {**server_env(database_url(connection.settings_dict), tmp_path / "data",
                        "http://127.0.0.1:8000"),
           "KEYSTEAD_SECRET_KEY": settings.SECRET_KEY,  # the key the bodies are encrypted with
           "KEYSTEAD_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}"}
    keystead = Path(sys.executable).with_name("keystead")
    senders = [subprocess.Popen([str(keystead), "mail", "send-pending"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [sender.communicate(timeout=120) for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    sent = [int(re.search(r"sent (\d+)", out).group(1)) for out, _ in outputs]
    assert sum(sent) == count and min(sent) > 0, sent  # both worked, together sent each once
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert len(subjects) == count and len(set(subjects)) == count
    assert OutgoingMail.objects.filter(status="sent", attempts=1).count() == count


@pytest.mark.slow
def test_keystead_serve_on_sqlite_delivers_without_an_extra_process(smtp_server, tmp_path):
    """What `make run` does (migrate, createadmin, serve with several workers on the
    embedded SQLite file): the web processes' own sender threads deliver the mail."""
    keystead = str(Path(sys.executable).with_name("keystead"))
    db_url = f"sqlite:///{tmp_path / 'keystead.sqlite3'}"
    mail_env = {"KEYSTEAD_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}"}
    env = {**server_env(db_url, tmp_path / "data", "http://127.0.0.1:8000"), **mail_env}
    for step in (["migrate"], ["createadmin", "--email", "ada@example.com"]):
        subprocess.run([keystead, *step], env=env, check=True, capture_output=True, timeout=120)
    with live_keystead(db_url, tmp_path, workers=2, env=mail_env) as server, \
            httpx.Client(base_url=server.base, timeout=30) as client:
        form = client.get("/reset").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        answer = client.post("/reset", data={"email": "ada@example.com",
                                             "csrfmiddlewaretoken": csrf},
                             headers={"Referer": f"{server.base}/reset"})
        assert answer.status_code == 200
        [message] = smtp_server.wait_for(1, timeout=30)
    assert message["To"] == "ada@example.com"
    assert LINK.search(smtp_server.text_of(message))


def test_retry_waits_double_and_are_capped():
    assert [outbox.retry_delay(n).total_seconds() for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1800, 1800]


@pytest.mark.django_db
@pytest.mark.smoke
def test_a_sender_that_died_mid_send_leaves_the_mail_to_another(deliver):
    """A claimed row (SQLite's ``sending``) is taken over only once its lease ended."""
    outbox.enqueue("ada@example.com", "Hello", "a body")
    now = timezone.now()
    OutgoingMail.objects.update(status="sending", next_attempt_at=now + timedelta(minutes=1))
    assert outbox.deliver_due().attempted == 0  # its sender may still be at work
    with time_machine.travel(now + timedelta(minutes=1, seconds=1), tick=False):
        assert outbox.deliver_due().sent == 1
    assert [m.subject for m in deliver()] == ["Hello"]
