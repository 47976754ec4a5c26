"""The console's CSV export: the filtered list, streamed, spreadsheet-safe, audited."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from keystead.directory import people_csv
from keystead.directory.models import Event, Source, User

pytestmark = pytest.mark.django_db
USERS = "/admin/directory/user/"
EXPORT = USERS + "export/"


@pytest.fixture
def staff(make_user):
    make_user("ada@example.com", "Ada", "Lovelace", username="ada", external_id="E-1")
    make_user("bob@example.com", "=HYPERLINK(\"http://evil\")", "-Babbage", is_active=False)
    make_user("cy@example.com", "Cy", "@Hopper", source=Source.LDAP, source_id="uid=cy")


def exported(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline="")))


def test_export_streams_every_person_in_the_import_columns(root_client, staff, admin_user):
    response = root_client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    rows = exported(response)
    assert rows[0] == list(people_csv.COLUMNS)
    by_email = {row[0]: row for row in rows[1:]}
    assert set(by_email) == {"ada@example.com", "bob@example.com", "cy@example.com",
                             admin_user.email}
    assert by_email["ada@example.com"] == ["ada@example.com", "ada", "Ada", "Lovelace", "E-1",
                                           "yes"]
    event = Event.objects.get(action="user.export")
    assert event.detail == {"door": "admin", "count": 4, "filters": {}}
    assert event.actor == admin_user


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(root_client, staff):
    rows = {row[0]: row for row in exported(root_client.get(EXPORT))[1:]}
    assert rows["bob@example.com"][2:4] == ["'=HYPERLINK(\"http://evil\")", "'-Babbage"]
    assert rows["bob@example.com"][5] == "no"
    assert rows["cy@example.com"][3] == "'@Hopper"


def test_export_follows_the_lists_filter_and_search(root_client, staff):
    rows = exported(root_client.get(EXPORT, {"is_active__exact": "0"}))
    assert [row[0] for row in rows[1:]] == ["bob@example.com"]
    rows = exported(root_client.get(EXPORT, {"q": "lovelace"}))
    assert [row[0] for row in rows[1:]] == ["ada@example.com"]
    event = Event.objects.filter(action="user.export").first()
    assert event.detail == {"door": "admin", "count": 1, "filters": {"q": "lovelace"}}
    page = root_client.get(USERS, {"q": "lovelace"}).content.decode()
    assert 'href="/admin/directory/user/export/?q=lovelace"' in page


def test_an_invalid_or_forbidden_filter_exports_nothing(root_client, staff):
    response = root_client.get(EXPORT, {"no_such_field": "1"})
    assert response.status_code == 302  # back to the list, with a message
    # Filtering on the password hash is refused as on the list itself.
    assert root_client.get(EXPORT, {"password__startswith": "argon2"}).status_code == 400
    assert not Event.objects.filter(action="user.export").exists()


def test_an_export_imports_unchanged_elsewhere(root_client, staff):
    body = b"".join(root_client.get(EXPORT, {"q": "example.com"}).streaming_content)
    User.objects.exclude(is_superuser=True).delete()
    preview = root_client.post(USERS + "import/", {
        "file": SimpleUploadedFile("people.csv", body, "text/csv")})
    page = preview.content.decode()
    # The superuser still exists here, so only that row is a problem: nothing else is.
    assert page.count('class="ks-problem"') == 1
    assert "A person with the email or user name &#x27;root@example.com&#x27; already" in page
    reading = people_csv.read(body)
    bob = next(r for r in reading.rows if r.email == "bob@example.com")
    assert (bob.given_name, bob.family_name, bob.active) == (
        "=HYPERLINK(\"http://evil\")", "-Babbage", False)


def test_export_needs_the_view_permission(client_as, staff):
    auditor, _ = client_as("Auditor")
    assert auditor.get(EXPORT).status_code == 200
    no_role, _ = client_as(email="norole@example.com")  # console access, no admin role
    assert no_role.get(EXPORT).status_code == 403
    assert not Event.objects.filter(action="user.export",
                                    actor__email="norole@example.com").exists()
