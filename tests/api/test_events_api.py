"""/api/v1/events: the same criteria as the console and the CLI, and 400s that name the field."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from keystead.directory import audit
from keystead.directory.models import Event, Outcome, User

pytestmark = pytest.mark.django_db


def _from(address: str):
    return RequestFactory().get("/", REMOTE_ADDR=address)


@pytest.fixture
def log(api):
    Event.objects.all().delete()  # the token's issue is an event too
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="E1234")
    return {
        "ada": audit.record("login", request=_from("10.1.1.1"), actor=ada, target=ada),
        "locked": audit.record("login", request=_from("198.51.100.4"), actor_label="anonymous",
                               target=ada, outcome=Outcome.DENIED),
        "system": audit.record("user.disable", actor_label="system", target=ada),
        "other": audit.record("group.create", request=_from("10.2.2.2"), actor_label="system"),
    }


def _ids(api, **params) -> list[int]:
    response = api.get("/api/v1/events", **params)
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"] if item["action"] != "api.auth"]


def test_person_actor_client_and_outcome(api, log):
    assert _ids(api, person="e1234") == [log["system"].pk, log["locked"].pk, log["ada"].pk]
    assert _ids(api, actor="system") == [log["other"].pk, log["system"].pk]
    assert _ids(api, actor="ada@example.com") == [log["ada"].pk]
    assert _ids(api, client="10.0.0.0/8") == [log["other"].pk, log["ada"].pk]
    assert _ids(api, client="198.51.100.4") == [log["locked"].pk]
    assert _ids(api, outcome="denied", person="ada@example.com") == [log["locked"].pk]
    assert _ids(api, action="user.*") == [log["system"].pk]
    assert _ids(api, action="login") == [log["locked"].pk, log["ada"].pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"client": "10.0.0.999"}, "client"),
    ({"action": "*"}, "action"),
    ({"since": "2025-05-02T00:00:00Z", "until": "2025-05-01T00:00:00Z"}, "until"),
    ({"outcome": "blocked"}, "outcome"),
])
def test_bad_criteria_are_a_400_naming_the_field(api, log, params, field):
    response = api.get("/api/v1/events", **params)
    assert response.status_code == 400
    body = response.json()
    assert [error["field"] for error in body["errors"]] == [field]
    assert body["errors"][0]["message"]
