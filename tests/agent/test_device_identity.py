"""Who a computer is and whose it is: a signature names its device, a key belongs to one
computer, and the owner is an administrator's choice, never the computer's claim."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.test import Client

from keystead.devices.models import Device, EnrollmentToken
from keystead.devices.services import TokenRequest, change_device, create_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead_agent import signing

from .helpers import agent_application
from .test_devices import enroll, signed, signed_headers

pytestmark = pytest.mark.django_db



def migration():
    """The data steps of the migration that made keys unique and owners assigned."""
    return importlib.import_module(
        "keystead.devices.migrations.0003_one_computer_per_key_and_reported_user")


@pytest.fixture
def app():
    return agent_application()


def new_token(app) -> str:
    return create_token(TokenRequest(client_id=app.client_id, mode="store"),
                        actor=OPERATOR)[1].reveal()


def respelt(key) -> str:
    """The same public key in another PEM spelling (CRLF line ends), which loads alike."""
    return signing.public_pem(key).replace("\n", "\r\n")


def computer(app, name: str, public_key: str, owner: User | None = None) -> Device:
    """A computer written straight to the table, as an older Keystead could have kept it."""
    return Device.objects.create(name=name, public_key=public_key, application=app,
                                 owner=owner)


def test_every_part_of_a_request_is_signed():
    key = signing.new_private_key()
    public = key.public_key()
    parts = {"method": "POST", "target": "/devices/events", "timestamp": 1_700_000_000,
             "nonce": signing.new_nonce(), "body": b'{"events": []}', "device_id": 7}

    def verifies(**changed) -> bool:
        given = {**parts, **changed}
        return signing.verify(public, signature, given["method"], given["target"],
                              given["timestamp"], given["nonce"], given["body"],
                              device_id=given["device_id"])

    signature = signing.sign(key, parts["method"], parts["target"], parts["timestamp"],
                             parts["nonce"], parts["body"], device_id=parts["device_id"])
    assert verifies()
    for changed in ({"device_id": 8}, {"method": "GET"}, {"target": "/devices/config"},
                    {"target": "/devices/events?all=1"}, {"timestamp": 1_700_000_001},
                    {"nonce": signing.new_nonce()}, {"body": b'{"events": [{}]}'}):
        assert not verifies(**changed), changed


def test_a_request_signed_for_one_computer_is_refused_for_another_with_the_same_key(app):
    """Two computers holding one key (as an older Keystead allowed): a request signed as
    the first, sent again naming the second, is not the second's."""
    key = signing.new_private_key()
    first = enroll(new_token(app), key).json()["device_id"]
    second = computer(app, "lab-02", respelt(key)).pk
    body = {"events": [{"event": "sign-in", "user": "ada", "outcome": "success"}]}
    headers = signed_headers(key, first, "POST", "/devices/events", body)
    as_second = {**headers, signing.DEVICE_HEADER: str(second)}
    answer = signed(key, second, "POST", "/devices/events", body, headers=as_second)
    assert answer.status_code == 401, answer.content
    assert not Event.objects.filter(action="agent.sign-in").exists()
    # The request itself is still good for the computer it was signed for, once.
    assert signed(key, first, "POST", "/devices/events", body,
                  headers=headers).status_code == 200
    assert Event.objects.get(action="agent.sign-in").target_id == str(first)
    config = signed_headers(key, first, "GET", "/devices/config")
    assert signed(key, second, "GET", "/devices/config",
                  headers={**config, signing.DEVICE_HEADER: str(second)}).status_code == 401


def test_the_query_is_signed_with_the_path(app):
    key = signing.new_private_key()
    device_id = enroll(new_token(app), key).json()["device_id"]
    headers = signed_headers(key, device_id, "GET", "/devices/config")
    assert Client().get("/devices/config?mode=store", headers=headers).status_code == 401
    queried = signed_headers(key, device_id, "GET", "/devices/config?mode=store")
    assert Client().get("/devices/config?mode=store", headers=queried).status_code == 200


def test_a_public_key_enrols_one_computer(app):
    key = signing.new_private_key()
    assert enroll(new_token(app), key).status_code == 201
    second = new_token(app)
    for spelling in (signing.public_pem(key), respelt(key)):
        answer = Client().post("/devices/enroll", json.dumps({
            "token": second, "name": "lab-02", "public_key": spelling}),
            content_type="application/json")
        assert answer.status_code == 409, answer.content
        assert answer.json()["error"] == "key_in_use"
        assert "already registered to another computer" in answer.json()["problems"][
            "public_key"]
    assert Device.objects.count() == 1
    assert EnrollmentToken.objects.filter(used_at__isnull=True).count() == 1  # not used
    refused = Event.objects.filter(action="device.enroll", outcome="denied")
    assert refused.count() == 2
    assert refused.first().detail == {
        "reason": "the public key is already registered to another computer"}
    # With a key of its own, the same token enrols the computer.
    assert enroll(second).status_code == 201


def test_a_computer_reports_who_signed_in_but_does_not_choose_its_owner(app, admin_user):
    key = signing.new_private_key()
    device_id = enroll(new_token(app), key).json()["device_id"]
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="ada")
    User.objects.create_user("bob@example.com", "Bob", "Builder", username="bob")
    for name in ("ada", "bob"):
        report = {"events": [{"event": "sign-in", "user": name, "outcome": "success"}]}
        assert signed(key, device_id, "POST", "/devices/events", report).status_code == 200
        device = Device.objects.get()
        assert (device.owner, device.reported_user) == (None, name)
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(f"/admin/devices/device/{device_id}/change/").content.decode()
    assert "Reported user" in page and "bob" in page
    assert "The computer&#x27;s own claim" in page or "The computer's own claim" in page
    # The owner is the administrator's to assign, through the audited service.
    change_device(Device.objects.get(), owner=ada, actor=OPERATOR)
    assert Device.objects.get().owner == ada
    assert Event.objects.get(action="device.change").detail == {"owner": "ada@example.com"}
    later = {"events": [{"event": "sign-in", "user": "bob", "outcome": "success"}]}
    assert signed(key, device_id, "POST", "/devices/events", later).status_code == 200
    assert Device.objects.get().owner == ada


def test_the_migration_stops_at_computers_sharing_a_key_and_writes_keys_one_way(app):
    key = signing.new_private_key()
    one = computer(app, "lab-01", signing.public_pem(key))
    two = computer(app, "lab-02", respelt(key))
    with pytest.raises(RuntimeError) as stopped:
        migration().one_computer_per_key(apps, None)
    said = str(stopped.value)
    assert f"computer {one.pk} ('lab-01')" in said and f"computer {two.pk} ('lab-02')" in said
    assert "keystead migrate" in said
    one.delete()
    migration().one_computer_per_key(apps, None)
    assert Device.objects.get().public_key == signing.public_pem(key)


def test_the_migration_keeps_only_owners_an_administrator_assigned(app):
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="ada")
    computer(app, "claimed", signing.public_pem(signing.new_private_key()), ada)
    assigned = computer(app, "assigned", signing.public_pem(signing.new_private_key()))
    change_device(assigned, owner=ada, actor=OPERATOR)
    reassigned = computer(app, "reassigned", signing.public_pem(signing.new_private_key()))
    change_device(reassigned, owner=ada, actor=OPERATOR)
    change_device(reassigned, owner=None, actor=OPERATOR)
    Device.objects.filter(pk=reassigned.pk).update(owner=ada)  # claimed after that
    migration().owners_only_by_administrators(apps, None)
    found = {device.name: (device.owner, device.reported_user)
             for device in Device.objects.all()}
    assert found == {"claimed": (None, "ada@example.com"), "assigned": (ada, ""),
                     "reassigned": (None, "ada@example.com")}
