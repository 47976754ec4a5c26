"""Downloading the audit log: exactly the filtered events, streamed, audited, for readers only."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory

from keystead.directory import audit
from keystead.directory.event_export import CSV_COLUMNS
from keystead.directory.models import Event, Outcome

pytestmark = pytest.mark.django_db
EVENTS = "/admin/directory/event/"
CSV = EVENTS + "export/csv/"
JSON = EVENTS + "export/json/"


def _from(address: str):
    return RequestFactory().get("/", REMOTE_ADDR=address, HTTP_USER_AGENT="@agent")


@pytest.fixture
def log(admin_user):
    """A failed sign-in with a formula for a name, a success, and a group change."""
    failed = audit.record("login", request=_from("203.0.113.9"), actor_label="=cmd|'/C calc'!A0",
                          outcome=Outcome.FAILURE, detail={"username": "+mallory"})
    signed_in = audit.record("login", request=_from("10.0.0.5"), actor=admin_user,
                             target=admin_user, detail={"method": "password"})
    grouped = audit.record("group.create", actor=admin_user, detail={"door": "api"})
    return failed, signed_in, grouped


def _body(response) -> str:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_body(response))))


def _time(event: Event) -> str:
    return event.created_at.astimezone(UTC).isoformat()


def test_csv_holds_exactly_the_filtered_events(root_client, log, admin_user):
    failed, signed_in, _ = log
    response = root_client.get(CSV, {"action": "login"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="keystead-events-')
    assert "no-store" in response["Cache-Control"]
    assert _csv(response) == [
        list(CSV_COLUMNS),
        [str(signed_in.pk), _time(signed_in), "login", "success", "root@example.com", "user",
         str(admin_user.pk), "root@example.com", "10.0.0.5", "'@agent",
         '{"method": "password"}'],
        [str(failed.pk), _time(failed), "login", "failure", "'=cmd|'/C calc'!A0", "", "", "",
         "203.0.113.9", "'@agent", '{"username": "+mallory"}'],
    ]


def test_json_holds_exactly_the_filtered_events(root_client, log):
    failed, _, _ = log
    response = root_client.get(JSON, {"client": "203.0.113.0/24"})
    assert response["Content-Type"] == "application/json"
    assert json.loads(_body(response)) == [{
        "id": failed.pk, "time": _time(failed), "action": "login", "outcome": "failure",
        "actor": "=cmd|'/C calc'!A0", "target": {"type": "", "id": "", "label": ""},
        "client_ip": "203.0.113.9", "user_agent": "@agent", "detail": {"username": "+mallory"},
    }]


def test_an_empty_result_is_still_valid(root_client, log):
    assert json.loads(_body(root_client.get(JSON, {"person": "nobody@example.com"}))) == []
    assert _csv(root_client.get(CSV, {"person": "nobody@example.com"})) == [list(CSV_COLUMNS)]


def test_export_follows_search_sidebar_date_bar_and_order(root_client, log):
    _, signed_in, grouped = log
    ids = [row[0] for row in _csv(root_client.get(CSV, {"q": "group"}))[1:]]
    assert ids == [str(grouped.pk)]
    ids = [row[0] for row in _csv(root_client.get(CSV, {"target_type__exact": "user"}))[1:]]
    assert ids == [str(signed_in.pk)]
    day = grouped.created_at
    rows = _csv(root_client.get(CSV, {
        "created_at__year": day.year, "created_at__month": day.month,
        "created_at__day": day.day, "o": "1"}))[1:]  # sorted by action, ascending
    # The two exports above are events of the day too.
    assert [row[2] for row in rows] == ["audit.export", "audit.export", "group.create", "login",
                                        "login"]


def test_every_page_is_exported_not_just_the_one_shown(root_client, admin_user):
    for n in range(120):
        audit.record("user.update", actor=admin_user, detail={"n": n})
    rows = _csv(root_client.get(CSV, {"action": "user.*", "p": "2"}))[1:]
    assert len(rows) == 120
    assert [json.loads(row[-1])["n"] for row in rows] == list(range(119, -1, -1))


def test_the_export_is_audited_with_its_filter_and_count(root_client, log, admin_user):
    body = _body(root_client.get(JSON, {"action": "login", "person": "root@example.com",
                                         "p": "3"}))
    assert len(json.loads(body)) == 1
    export = Event.objects.get(action="audit.export")
    assert export.actor == admin_user
    assert export.outcome == Outcome.SUCCESS
    assert export.detail == {"format": "json", "count": 1,
                             "filter": {"action": "login", "person": "root@example.com"}}
    # A later export of everything holds the first export's event but not its own.
    everything = json.loads(_body(root_client.get(JSON)))
    assert [e["action"] for e in everything] == ["audit.export", "group.create", "login",
                                                 "login"]
    assert Event.objects.filter(action="audit.export").latest("pk").detail["count"] == 4


def test_the_list_offers_downloads_of_its_filter(root_client, log):
    page = root_client.get(EVENTS, {"action": "login", "p": "1"}).content.decode()
    assert f'<a href="{CSV}?action=login" class="ks-export" download>Download CSV</a>' in page
    assert f'<a href="{JSON}?action=login" class="ks-export" download>Download JSON</a>' in page


@pytest.mark.parametrize(("params", "words"), [
    ({"client": "not-an-address"}, "Client address: 'not-an-address' is not an IP address"),
    ({"since": "whenever"}, "From: 'whenever' is not a time"),
    ({"outcome": "maybe"}, "Outcome: 'maybe' is not an outcome"),
])
def test_a_bad_filter_exports_nothing(root_client, log, params, words):
    response = root_client.get(CSV, params)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"Nothing was exported. {words}")
    assert not Event.objects.filter(action="audit.export").exists()


def test_a_bad_list_lookup_or_format_is_a_400_not_a_500(root_client, log):
    assert root_client.get(CSV, {"created_at__year": "soon"}).status_code == 400
    assert root_client.get(EVENTS + "export/xlsx/").status_code == 400
    assert not Event.objects.filter(action="audit.export").exists()


def test_only_readers_of_events_may_export(client_as, make_user, log):
    auditor, _ = client_as("Auditor", email="auditor@example.com")
    assert len(_csv(auditor.get(CSV))) == 4
    plain_staff, _ = client_as(email="plain-staff@example.com")
    assert plain_staff.get(CSV).status_code == 403
    people_only, member = client_as(email="people-only@example.com")
    member.user_permissions.add(Permission.objects.get(codename="view_user",
                                                       content_type__app_label="directory"))
    assert people_only.get("/admin/directory/user/").status_code == 200
    assert people_only.get(CSV).status_code == 403
    # Someone who is not staff never reaches the console: sent to sign in.
    person = make_user("ada@example.com", "Ada", "Lovelace")
    outsider = Client()
    outsider.force_login(person)
    assert outsider.get(CSV).status_code == 302
    assert Client().get(CSV).status_code == 302
    assert list(Event.objects.filter(action="audit.export").values_list(
        "actor_label", flat=True)) == ["auditor@example.com"]


def test_the_service_itself_refuses_a_non_reader(make_user):
    """``require_reader`` is the one check; the console door is not the only guard."""
    from keystead.directory.authorization import NotAllowed
    from keystead.directory.event_export import require_reader

    not_staff = make_user("ada@example.com", "Ada", "Lovelace")
    not_staff.user_permissions.add(Permission.objects.get(codename="view_event"))
    with pytest.raises(NotAllowed, match="permission to view events"):
        require_reader(not_staff)
    auditor = make_user("auditor@example.com", roles=("Auditor",))
    require_reader(auditor)
    auditor.is_active = False
    with pytest.raises(NotAllowed):
        require_reader(auditor)
