"""What the database cannot take, in a console address or form (text no column can store,
a year it cannot compute, rows that are no ids) or in what an audit event records: a 400
naming the parameter, or a faithful escape, never a database error."""

from __future__ import annotations

import pytest

from keystead.directory import audit
from keystead.directory.models import Event
from keystead.json_text import storable

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("address", [
    "/admin/directory/user/?source=%00",
    "/admin/directory/user/?source__exact=%00",
    "/admin/directory/user/export/?q=%00",
    "/admin/directory/user/export/?source=%00",
    "/admin/directory/event/export/csv/?q=%00",
    "/admin/directory/event/export/json/?q=a%00b",
    "/admin/provisioning/operation/?state=%00",
    "/admin/oauth2_provider/application/?client_type=%00",
    "/admin/autocomplete/?app_label=provisioning&model_name=rolesystem&field_name=role"
    "&term=%00",
    "/admin/directory/user/?%00=1",
])
def test_a_console_address_holding_a_nul_is_refused_naming_the_parameter(root_client,
                                                                         address):
    answer = root_client.get(address)
    assert answer.status_code == 400
    assert "holds a NUL character" in answer.content.decode()
    assert "parameter '" in answer.content.decode()


def test_the_console_still_answers_ordinary_addresses(root_client):
    assert root_client.get("/admin/directory/user/?q=ada").status_code == 200
    assert root_client.get("/admin/directory/event/export/csv/?q=ada").status_code == 200
    assert root_client.get("/admin/directory/group/?created_at__year=2026").status_code == 200
    assert root_client.get("/admin/directory/event/?created_at__year=9998").status_code == 200


@pytest.mark.parametrize("address", [
    "/admin/directory/group/?created_at__year=99999",
    "/admin/api/apitoken/?created_at__year=0",
    "/admin/directory/event/?created_at__year=9999",
    "/admin/directory/event/?created_at__year=x",
])
def test_a_year_the_database_cannot_compute_is_refused(root_client, address):
    answer = root_client.get(address)
    assert answer.status_code == 400
    assert "must be a year" in answer.content.decode()


@pytest.mark.parametrize("selected", ["abc", "", "1\x00"])
def test_selected_rows_that_are_no_ids_are_refused(root_client, selected):
    answer = root_client.post("/admin/directory/group/", {
        "action": "delete_selected", "_selected_action": [selected]})
    assert answer.status_code == 400
    assert "is not a record of this list" in answer.content.decode()


def test_an_action_on_real_rows_still_runs(root_client):
    from keystead.directory.models import Group

    group = Group.objects.create(name="Temps")
    answer = root_client.post("/admin/directory/group/", {
        "action": "delete_selected", "_selected_action": [str(group.pk)]})
    assert answer.status_code == 200 and "Temps" in answer.content.decode()  # the confirmation


def test_an_audit_event_keeps_what_no_column_can_store_as_escapes():
    event = audit.record("test.record", detail={"q": "a\x00b", "name\x00": ["\ud800x"]})
    event.refresh_from_db()
    assert event.detail == {"q": "a\\u0000b", "name\\u0000": ["\\ud800x"]}
    assert Event.objects.filter(detail__q="a\\u0000b").exists()
    assert storable({"fine": "text", "n": 1}) == {"fine": "text", "n": 1}
