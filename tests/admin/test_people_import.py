"""The console's CSV import: upload, preview by line and column, import all or nothing."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from keystead.directory import admin_people_io, people_csv
from keystead.directory.admin_people_io import PENDING
from keystead.directory.models import Event, User
from keystead.directory.people_csv import Taken

from .helpers import messages_of

pytestmark = pytest.mark.django_db
USERS = "/admin/directory/user/"
IMPORT = USERS + "import/"
RUN = USERS + "import/run/"

GOOD = (
    "email,username,First name,Last name,external_id,active\n"
    "ada@example.com,,Ada,Lovelace,E-1,yes\n"
    "grace@example.com,ghopper,Grace,Hopper,,no\n"
    "alan@example.com,,Alan,Turing,E-3,\n"
)


def upload(client, text: str | bytes, name: str = "people.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, data, "text/csv")})


def digest_of(response) -> str:
    return re.search(r'name="digest" value="([0-9a-f]{64})"', response.content.decode())[1]


def people() -> set[str]:
    return set(User.objects.exclude(is_staff=True).values_list("email", flat=True))


def test_the_list_offers_import_and_export(root_client, client_as):
    page = root_client.get(USERS).content.decode()
    assert 'href="/admin/directory/user/import/"' in page
    assert "Import people" in page and "Export people" in page
    auditor, _ = client_as("Auditor")
    page = auditor.get(USERS).content.decode()
    assert "Import people" not in page
    assert "Export people" in page


def test_upload_page_explains_the_columns(root_client):
    page = root_client.get(IMPORT).content.decode()
    assert 'type="file"' in page
    for text in ("given_name", "“first name”", "“last name”", "There is no password column"):
        assert text in page, text


def test_preview_then_import_creates_everyone_without_passwords(root_client, admin_user):
    preview = upload(root_client, GOOD)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "No problems found" in page and "Import 3 people" in page
    assert page.count('class="ks-new"') == 3
    assert people() == set()  # the preview writes nothing
    assert root_client.session[PENDING]["digest"] == digest_of(preview)

    done = root_client.post(RUN, {"digest": digest_of(preview), "_import": "Import"}, follow=True)
    assert done.redirect_chain[-1][0] == USERS
    assert any(m.startswith("Imported 3 people from people.csv.") for m in messages_of(done))
    assert people() == {"ada@example.com", "grace@example.com", "alan@example.com"}
    grace = User.objects.get(email="grace@example.com")
    assert (grace.username, grace.is_active, grace.given_name) == ("ghopper", False, "Grace")
    ada = User.objects.get(email="ada@example.com")
    assert (ada.username, ada.external_id, ada.is_active) == ("ada@example.com", "E-1", True)
    assert not any(u.has_usable_password() for u in User.objects.filter(is_staff=False))
    creates = Event.objects.filter(action="user.create")
    assert creates.count() == 3
    assert all(e.detail == {"door": "admin", "password_set": False} for e in creates)
    event = Event.objects.get(action="user.import")
    assert event.detail == {"door": "admin", "count": 3, "file": "people.csv"}
    assert event.actor == admin_user
    assert PENDING not in root_client.session
    # The same preview cannot be imported twice.
    again = root_client.post(RUN, {"digest": digest_of(preview)}, follow=True)
    assert "no longer valid" in " ".join(messages_of(again))
    assert User.objects.filter(is_staff=False).count() == 3


def where_problems_are(page: str) -> list[str]:
    """The preview's problem list, as "Line N, column 'name'" (HTML-escaped)."""
    return re.findall(r"<li>(Line \d+, column &#x27;[^&]+&#x27;): ", page)


def test_a_file_with_errors_writes_nothing_and_reports_each_problem_by_line(root_client):
    preview = upload(root_client, (
        "email,First name,Last name,active\n"
        "ada@example.com,Ada,Lovelace,yes\n"
        "not-an-email,Bob,Smith,yes\n"
        "carol@example.com,,Ng,perhaps\n"
        "ADA@example.com,Ada,Again,\n"
    ))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert where_problems_are(page) == [
        "Line 3, column &#x27;email&#x27;", "Line 4, column &#x27;First name&#x27;",
        "Line 4, column &#x27;active&#x27;", "Line 5, column &#x27;email&#x27;"]
    assert "4 problems on 3 lines must be fixed" in page
    assert "Email &#x27;not-an-email&#x27; is not a valid address" in page
    assert "Given name is required" in page
    assert "already the email on line 2" in page
    assert page.count('class="ks-problem"') == 3 and page.count('class="ks-new"') == 1
    assert 'name="_import"' not in page  # no Import button
    assert PENDING not in root_client.session  # a file with problems is never kept
    assert people() == set()
    refused = root_client.post(RUN, {"digest": people_csv.__name__}, follow=True)
    assert "no longer valid" in " ".join(messages_of(refused))
    assert people() == set()
    assert not Event.objects.filter(action__in=("user.create", "user.import")).exists()


def test_text_no_column_can_hold_is_a_problem_of_its_line_not_an_error(root_client):
    preview = upload(root_client, (
        "email,First name,Last name,external id\n"
        "ada\x00@example.com,Ada,Lovelace,E1\n"
        "grace@example.com,Grace,Hopper,E\x002\n"
    ))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert where_problems_are(page) == ["Line 2, column &#x27;email&#x27;",
                                        "Line 3, column &#x27;external id&#x27;"]
    assert "holds a NUL character" in page
    assert people() == set()


def test_cancel_writes_nothing_and_forgets_the_file(root_client):
    preview = upload(root_client, GOOD)
    cancelled = root_client.post(RUN, {"digest": digest_of(preview), "_cancel": "Cancel"},
                                 follow=True)
    assert "Import cancelled: nobody was added." in messages_of(cancelled)
    assert PENDING not in root_client.session
    assert people() == set()
    late = root_client.post(RUN, {"digest": digest_of(preview), "_import": "Import"},
                            follow=True)
    assert "no longer valid" in " ".join(messages_of(late))
    assert people() == set()


def test_someone_added_between_preview_and_import_stops_the_whole_import(
        root_client, make_user):
    preview = upload(root_client, GOOD)
    make_user("grace@example.com", "Grace", "Other")  # another administrator was quicker
    result = root_client.post(RUN, {"digest": digest_of(preview), "_import": "Import"})
    assert result.status_code == 200
    page = result.content.decode()
    assert "Nothing was imported" in page
    assert "Line 3, column &#x27;email&#x27;: A person with the email or user name" in page
    assert people() == {"grace@example.com"}
    assert not Event.objects.filter(action="user.import").exists()


def test_a_conflict_inside_the_import_transaction_rolls_back_every_row(
        root_client, make_user, monkeypatch):
    """The check before writing passed (the other administrator's person was not there
    yet); the conflict surfaces only when the third row is created, in the transaction."""
    preview = upload(root_client, GOOD)
    make_user("someone@example.com", "Some", "One", external_id="E-3")
    monkeypatch.setattr(admin_people_io, "taken_by_others", lambda reading: Taken())
    result = root_client.post(RUN, {"digest": digest_of(preview), "_import": "Import"})
    assert result.status_code == 200
    page = result.content.decode()
    assert "Nothing was imported" in page
    assert ("Line 4, column &#x27;external_id&#x27;: A user with this external id already "
            "exists") in page
    # Rows 2 and 3 were created before row 4 failed: all rolled back, events too.
    assert people() == {"someone@example.com"}
    assert not Event.objects.filter(action__in=("user.create", "user.import")).exists()


def test_a_preview_replaced_by_another_upload_or_too_old_is_refused(root_client):
    first = upload(root_client, GOOD)
    upload(root_client, GOOD.replace("alan", "alonzo"))
    stale = root_client.post(RUN, {"digest": digest_of(first), "_import": "Import"},
                             follow=True)
    assert "no longer valid" in " ".join(messages_of(stale))
    assert people() == set()

    fresh = upload(root_client, GOOD)
    session = root_client.session
    session[PENDING] = {**session[PENDING], "at": session[PENDING]["at"] - 7200}
    session.save()
    old = root_client.post(RUN, {"digest": digest_of(fresh), "_import": "Import"}, follow=True)
    assert "over an hour old" in " ".join(messages_of(old))
    assert people() == set()


def test_a_password_column_is_refused_and_its_values_never_shown_or_kept(root_client):
    canary = "Canary-Pa55word-4417"
    preview = upload(root_client, f"email,given_name,family_name,password\n"
                                  f"ada@example.com,Ada,Lovelace,{canary}\n")
    page = preview.content.decode()
    assert "Line 1, column &#x27;password&#x27;: Passwords are not imported" in page
    assert canary not in page
    assert PENDING not in root_client.session
    assert canary not in str(dict(root_client.session))
    assert people() == set()


def test_a_file_too_large_is_refused_before_reading(root_client, monkeypatch):
    monkeypatch.setattr(people_csv, "MAX_BYTES", 100)
    response = upload(root_client, GOOD)
    assert response.status_code == 200
    assert "one import reads at most 0 KiB" in response.content.decode()
    assert PENDING not in root_client.session


def test_import_needs_the_add_permission(client_as):
    helpdesk, _ = client_as("Helpdesk")  # may change people, not add them
    assert helpdesk.get(IMPORT).status_code == 403
    assert upload(helpdesk, GOOD).status_code == 403
    assert helpdesk.post(RUN, {"digest": "x"}).status_code == 403
    assert people() == set()


def test_a_directory_administrator_imports(client_as):
    directory_admin, _ = client_as("Directory administrator")
    preview = upload(directory_admin, GOOD)
    assert "Import 3 people" in preview.content.decode()
    directory_admin.post(RUN, {"digest": digest_of(preview), "_import": "Import"})
    assert people() == {"ada@example.com", "grace@example.com", "alan@example.com"}


def test_run_only_takes_post(root_client):
    assert root_client.get(RUN).status_code == 405
