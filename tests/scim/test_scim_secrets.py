"""The password attribute: it works, and the clear value never leaves the request.

A canary password is sent every way SCIM allows (create, replace, PATCH with and
without a path, and inside requests that fail); then every response body, every
log record, every audit event and a dump of every table are searched for it.
"""

import io
import logging
import uuid

import pytest
from django.core.management import call_command

from keystead.directory.models import Event, User

pytestmark = pytest.mark.django_db(transaction=True)

PATCH_OP = ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]


def person(email: str, **extra):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
            "emails": [{"value": email}], "name": {"givenName": "Tweety", "familyName": "Bird"},
            **extra}


def test_password_is_set_and_never_leaks(live_scim, caplog):
    caplog.set_level(logging.DEBUG)
    canaries = [f"Canary-{uuid.uuid4().hex}" for _ in range(6)]
    responses = []

    def send(method, url, body):
        response = live_scim.request(method, url, json=body)
        responses.append(response)
        return response

    created = send("POST", "/Users", person("bird@example.com", password=canaries[0]))
    assert created.status_code == 201
    user = User.objects.get(email="bird@example.com")
    assert user.check_password(canaries[0])
    assert user.password_changed_at is not None
    uid = created.json()["id"]

    send("PUT", f"/Users/{uid}", person("bird@example.com", password=canaries[1]))
    user.refresh_from_db()
    assert user.check_password(canaries[1])

    send("PATCH", f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [
        {"op": "replace", "path": "password", "value": canaries[2]}]})
    user.refresh_from_db()
    assert user.check_password(canaries[2])
    assert Event.objects.filter(action="user.password.set", target_id=uid).exists()

    send("PATCH", f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [
        {"op": "replace", "value": {"password": canaries[3], "active": True}}]})
    user.refresh_from_db()
    assert user.check_password(canaries[3])

    # Requests that fail must not echo the password either, and must not apply it.
    failing = [
        send("POST", "/Users", {"userName": "x@example.com", "password": canaries[4],
                                "name": {"givenName": "No family"}}),
        send("PATCH", f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [
            {"op": "replace", "path": "password", "value": canaries[4]},
            {"op": "replace", "path": "name.familyName", "value": ""}]}),
        send("PUT", f"/Users/{uid}", {"userName": "not-an-email", "password": canaries[4]}),
        send("POST", "/Users", person("y@example.com", password={"nested": canaries[5]})),
        send("PATCH", f"/Users/{uid}", {"schemas": PATCH_OP, "Operations": [
            {"op": "add", "path": "password", "value": [canaries[5]]}]}),
    ]
    assert all(r.status_code == 400 for r in failing), [r.text for r in failing]
    user.refresh_from_db()
    assert user.check_password(canaries[3])
    raw = live_scim.post("/Users", content=f'{{"password": "{canaries[5]}", oops}}')
    responses.append(raw)
    assert raw.status_code == 400

    for response in [*responses, live_scim.get(f"/Users/{uid}"), live_scim.get("/Users")]:
        assert "password" not in response.json() if response.content else True
        for canary in canaries:
            assert canary not in response.text
            assert canary not in str(response.headers)
    logged = "\n".join(f"{r.getMessage()} {r.args} {getattr(r, 'exc_text', '')}"
                       for r in caplog.records)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    events = "\n".join(str(e.detail) for e in Event.objects.all())
    for canary in canaries:
        assert canary not in logged
        assert canary not in events
        assert canary not in dump.getvalue()
