"""Backup codes in the portal: a confirmation before a new set replaces the old one, and
the download of a set just made (never stored in clear, never anything else)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login import backup_codes
from keystead.login.models import BackupCode

from .conftest import PASSWORD, PHONE

pytestmark = pytest.mark.django_db


def codes_on(html: str) -> list[str]:
    return re.findall(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>", html)


def hashes(user) -> set[str]:
    return set(BackupCode.objects.filter(user=user).values_list("code_hash", flat=True))


def test_the_first_set_needs_no_confirmation(ada, browser_of):
    client = browser_of()
    page = client.post("/account/backup-codes").content.decode()
    codes = codes_on(page)
    assert len(codes) == backup_codes.COUNT
    assert "Copy the codes" in page and "Download as a text file" in page
    assert "portal-backup-codes.js" in page
    assert len(hashes(ada)) == backup_codes.COUNT
    for code in codes:  # only keyed hashes are kept
        assert not BackupCode.objects.filter(code_hash__contains=code).exists()
    assert Event.objects.get(action="backup_codes.generate").detail["replaced"] == 0


def test_a_new_set_replaces_the_old_one_only_after_confirmation(ada, browser_of):
    client = browser_of()
    client.post("/account/backup-codes")
    before = hashes(ada)
    page = client.get("/account/backup-codes").content.decode()
    assert 'href="/account/backup-codes/new"' in page and not codes_on(page)

    confirm = client.get("/account/backup-codes/new").content.decode()
    assert "Replace your backup codes?" in confirm
    assert "You have <strong>10</strong> unused backup codes" in confirm
    assert 'name="replace" value="yes"' in confirm

    # A POST without the confirmation (an old form, a double click) makes nothing.
    unconfirmed = client.post("/account/backup-codes").content.decode()
    assert "Replace your backup codes?" in unconfirmed and not codes_on(unconfirmed)
    assert hashes(ada) == before
    assert Event.objects.filter(action="backup_codes.generate").count() == 1

    replaced = client.post("/account/backup-codes", {"replace": "yes"}).content.decode()
    assert len(codes_on(replaced)) == backup_codes.COUNT
    assert hashes(ada).isdisjoint(before)
    latest = Event.objects.filter(action="backup_codes.generate").latest("pk")
    assert latest.detail["replaced"] == backup_codes.COUNT


def test_the_confirmation_page_sends_a_person_without_codes_back(ada, browser_of):
    assert browser_of().get("/account/backup-codes/new")["Location"] == "/account/backup-codes"


def test_the_set_just_made_downloads_as_a_text_file(ada, browser_of):
    client = browser_of()
    codes = codes_on(client.post("/account/backup-codes").content.decode())
    answer = client.post("/account/backup-codes/download", {"code": codes})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer["Content-Disposition"] == 'attachment; filename="keystead-backup-codes.txt"'
    assert "no-store" in answer["Cache-Control"]
    text = answer.content.decode()
    assert "ada@example.com" in text
    assert [line.split(". ")[1] for line in text.splitlines() if re.match(r"\s*\d+\. ", line)] \
        == codes
    event = Event.objects.get(action="backup_codes.download")
    assert event.actor_id == ada.pk and event.detail == {"count": 10}
    assert not any(code in str(event.detail) for code in codes)
    # Typed as people type them: case and spaces do not matter.
    assert client.post("/account/backup-codes/download",
                       {"code": [c.upper().replace("-", " ") for c in codes]}).status_code == 200


def _refused(client, codes) -> None:
    answer = client.post("/account/backup-codes/download", {"code": codes}, follow=True)
    assert answer.redirect_chain == [("/account/backup-codes", 302)]
    assert "The download is offered only for a set you have just made" in \
        answer.content.decode()


def test_the_download_answers_with_nothing_but_the_fresh_set(ada, browser_of):
    client = browser_of()
    codes = codes_on(client.post("/account/backup-codes").content.decode())
    _refused(client, ["aaaaa-aaaaa"] * 10)  # text of the caller's choosing
    _refused(client, codes[:9])  # part of the set
    _refused(client, [*codes[:9], "hello world"])
    _refused(client, [])
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    _refused(browser_of(PHONE, email=bob.email), codes)  # someone else's codes
    assert backup_codes.use(ada, codes[0])
    _refused(client, codes)  # a code of the set was used since
    assert not Event.objects.filter(action="backup_codes.download").exists()


def test_the_download_is_offered_only_right_after_the_set_is_made(ada, browser_of):
    client = browser_of()
    codes = codes_on(client.post("/account/backup-codes").content.decode())
    later = timezone.now() + timedelta(seconds=backup_codes.DOWNLOAD_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert backup_codes.fresh_set(ada, codes) is None
    assert backup_codes.fresh_set(ada, codes) == codes
