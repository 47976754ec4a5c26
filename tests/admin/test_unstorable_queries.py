"""Text no column can store, in a console address or in what an audit event records:
a 400 naming the parameter, or a faithful escape, never a database error."""

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


def test_an_audit_event_keeps_what_no_column_can_store_as_escapes():
    event = audit.record("test.record", detail={"q": "a\x00b", "name\x00": ["\ud800x"]})
    event.refresh_from_db()
    assert event.detail == {"q": "a\\u0000b", "name\\u0000": ["\\ud800x"]}
    assert Event.objects.filter(detail__q="a\\u0000b").exists()
    assert storable({"fine": "text", "n": 1}) == {"fine": "text", "n": 1}
