"""Backup codes: ten single-use codes, stored as keyed hashes, shown once, regenerable."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login import backup_codes, factors
from keystead.login.models import BackupCode
from keystead.policy.models import LogonPolicy, Strategy
from racing import save_while_another_is_pending

pytestmark = [pytest.mark.django_db]
PASSWORD = "Vellum-Orchid-Tapestry-42"
CODE_RE = re.compile(r"<code>([0-9a-z]{5}-[0-9a-z]{5})</code>")


@pytest.fixture
def ada():
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def test_ten_distinct_codes_of_fifty_bits_stored_hashed(ada):
    codes = [c.reveal() for c in backup_codes.generate(ada)]
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9abcdefghjkmnpqrstvwxyz]{5}-[0-9abcdefghjkmnpqrstvwxyz]{5}", c)
               for c in codes)
    rows = repr(list(BackupCode.objects.values()))
    assert not any(c in rows or c.replace("-", "") in rows for c in codes)
    assert backup_codes.remaining(ada) == 10


def test_each_code_works_once(ada):
    codes = [c.reveal() for c in backup_codes.generate(ada)]
    assert backup_codes.use(ada, codes[0])
    assert not backup_codes.use(ada, codes[0])
    assert backup_codes.remaining(ada) == 9


def test_typing_is_forgiving(ada):
    code = backup_codes.generate(ada)[0].reveal()
    typed = code.replace("-", " ").upper().replace("0", "O").replace("1", "l")
    assert backup_codes.use(ada, typed)


def test_nonsense_and_other_peoples_codes_are_refused(ada):
    bob = User.objects.create_user("bob@example.com", "Bob", "B", password=PASSWORD)
    bobs = backup_codes.generate(bob)[0].reveal()
    backup_codes.generate(ada)
    for typed in ("", "abc", "uuuuu-uuuuu", bobs, "x" * 200):
        assert not backup_codes.use(ada, typed)
    assert backup_codes.remaining(ada) == 10


def test_regenerating_invalidates_every_old_code(ada):
    old = [c.reveal() for c in backup_codes.generate(ada)]
    backup_codes.use(ada, old[0])
    new = [c.reveal() for c in backup_codes.generate(ada)]
    assert not any(backup_codes.use(ada, c) for c in old)
    assert backup_codes.remaining(ada) == 10 and set(old).isdisjoint(new)
    events = Event.objects.filter(action="backup_codes.generate").order_by("pk")
    assert [e.detail for e in events] == [{"count": 10, "replaced": 0},
                                          {"count": 10, "replaced": 10}]


def test_codes_still_work_after_a_secret_key_rotation(ada, settings):
    code = backup_codes.generate(ada)[0].reveal()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "r" * 64
    assert backup_codes.use(ada, code)


def test_registry(ada):
    assert "backup" not in [m.key for m in factors.methods_for(ada)]
    backup_codes.generate(ada)
    method = factors.get("backup")
    assert (method.order, method.url_name) == (90, "login_verify_backup")
    assert "backup" in [m.key for m in factors.methods_for(ada)]
    assert factors.reset_second_factors(ada, actor=OPERATOR)["backup"] == 10
    assert not backup_codes.has_codes(ada)


def test_portal_shows_codes_once_and_counts_them(ada):
    client = Client()
    client.force_login(ada)
    page = client.get("/account/backup-codes").content.decode()
    assert "You have no unused backup codes" in page and not CODE_RE.search(page)
    made = client.post("/account/backup-codes")
    assert made["Cache-Control"].startswith("max-age=0")
    codes = CODE_RE.findall(made.content.decode())
    assert len(codes) == 10
    again = client.get("/account/backup-codes").content.decode()
    assert not any(c in again for c in codes)
    assert "<strong>10</strong> unused backup codes" in again
    assert backup_codes.use(ada, codes[3])
    assert "<strong>9</strong> unused" in client.get("/account/backup-codes").content.decode()


def start_sign_in(client: Client) -> None:
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response["Location"] == "/login/verify/"


def test_sign_in_with_a_backup_code_once(ada):
    codes = [c.reveal() for c in backup_codes.generate(ada)]
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})
    first = Client()
    start_sign_in(first)
    assert 'href="/login/verify/backup"' in first.get("/login/verify/", follow=True) \
        .content.decode() or first.get("/login/verify/")["Location"] == "/login/verify/backup"
    done = first.post("/login/verify/backup", {"code": codes[0].upper()})
    assert done["Location"] == "/" and first.session["_auth_user_id"] == str(ada.pk)

    second = Client()
    start_sign_in(second)
    refused = second.post("/login/verify/backup", {"code": codes[0]})
    assert refused.status_code == 200
    assert "not one of your unused backup codes" in refused.content.decode()
    assert "_auth_user_id" not in second.session
    assert Event.objects.get(action="backup_codes.use").detail == {"remaining": 9}
    failure = Event.objects.get(action="login.second_factor", outcome="failure")
    assert failure.detail == {"method": "backup", "reason": "wrong or used backup code"}
    everything = repr(list(Event.objects.values()))
    assert not any(c in everything for c in codes)


@pytest.mark.django_db(transaction=True)
def test_two_sets_asked_for_at_once_leave_only_the_last_one_working(ada):
    shown: dict[str, list] = {}

    def first() -> None:
        shown["first"] = backup_codes.generate(User.objects.get(pk=ada.pk))

    def second() -> None:
        shown["second"] = backup_codes.generate(User.objects.get(pk=ada.pk))

    save_while_another_is_pending(first, second)  # the second waits for the first

    assert BackupCode.objects.filter(user=ada).count() == backup_codes.COUNT
    assert backup_codes.use(ada, shown["second"][0].reveal())
    assert not backup_codes.use(ada, shown["first"][0].reveal())
