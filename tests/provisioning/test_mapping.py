"""Schema and mapping: read from the real slapd, edited inline on the System page."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.provisioning import mapping
from keystead.provisioning.models import MappedAttribute, SchemaAttribute, System

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _page_data(system: System, rows: list[dict]) -> dict:
    data = {"name": system.name, "connector": system.connector,
            "settings": json.dumps(system.settings), "secret": "",
            "account_name_from": "username", "on_role_removal": "disable", "_save": "Save",
            "mapping-TOTAL_FORMS": str(len(rows)), "mapping-INITIAL_FORMS": "0",
            "roles-TOTAL_FORMS": "0", "roles-INITIAL_FORMS": "0",
            "schema-TOTAL_FORMS": "0", "schema-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data.update({f"mapping-{i}-{key}": value for key, value in row.items()})
    return data


def test_the_schema_is_read_from_slapd(ldap_system: System) -> None:
    count = mapping.read_schema(ldap_system, actor=OPERATOR)
    names = set(SchemaAttribute.objects.filter(system=ldap_system).values_list("name",
                                                                               flat=True))
    assert count == len(names)
    assert {"cn", "sn", "mail", "userPassword", "__PASSWORD__", "__ENABLE__"} <= names
    assert SchemaAttribute.objects.get(system=ldap_system, name="sn").required
    assert Event.objects.filter(action="provisioning.schema.read").exists()


def test_the_main_password_must_be_flagged() -> None:
    problems = mapping.mapping_problems(name="__PASSWORD__", is_password=False, source="",
                                        constant="", script="")
    assert "tick 'password attribute'" in problems["is_password"]
    assert mapping.mapping_problems(name="__PASSWORD__", is_password=True, source="",
                                    constant="", script="ssha(value)") == {}
    unflagged = mapping.mapping_problems(name="userPassword", is_password=False, source="",
                                         constant="{SSHA}fixed", script="")
    assert "holds a password: tick 'password attribute'" in unflagged["is_password"]


def test_the_system_page_edits_the_mapping_inline_and_refuses_bad_rows(
        root: Client, ldap_system: System) -> None:
    mapping.read_schema(ldap_system, actor=OPERATOR)
    url = reverse("admin:provisioning_system_change", args=[ldap_system.pk])
    refused = root.post(url, _page_data(ldap_system, [
        {"name": "__PASSWORD__", "script": ""},
        {"name": "shoeSize", "source": "email"},
        {"name": "cn", "script": "user.given_name +"},
    ]))
    text = refused.content.decode()
    assert refused.status_code == 200
    assert "__PASSWORD__ is the main password: tick" in text
    assert "&#x27;shoeSize&#x27; is not an attribute of this system" in text
    assert "does not compile" in text
    assert not MappedAttribute.objects.exists()

    saved = root.post(url, _page_data(ldap_system, [
        {"name": "__PASSWORD__", "is_password": "on", "script": "ssha(value)"},
        {"name": "cn", "source": "full_name"},
        {"name": "o", "constant": "Example Ltd"},
    ]))
    assert saved.status_code == 302
    assert list(MappedAttribute.objects.values_list("name", "is_password")) == [
        ("__PASSWORD__", True), ("cn", False), ("o", False)]
    assert Event.objects.filter(action="provisioning.mapping.change").exists()
    page = root.get(url).content.decode()
    assert "must be flagged too" in page  # the page says so beside the table
