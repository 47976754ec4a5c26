"""/api/v1/systems, /password-policies, /operations and /archive against real PostgreSQL
and a real slapd: CRUD, write-only secrets, clear 400s, scopes, owners, queue actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Event, Outcome, Role, User
from keystead.provisioning import queue, systems
from keystead.provisioning.models import (
    ArchivedOperation,
    Kind,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    State,
    System,
)
from keystead.secret import Secret
from provisioning import conftest as provisioning_fixtures

if TYPE_CHECKING:
    from conftest import ApiClient

pytestmark = pytest.mark.django_db
# The slapd fixtures of the provisioning tests (a slapd per xdist worker, a fresh branch).
prov_slapd = provisioning_fixtures.prov_slapd
accounts_ou = provisioning_fixtures.accounts_ou
ldap_system = provisioning_fixtures.ldap_system
CANARY = "Canary-api-systems-7c3e91"
SQL_SETTINGS = {"url": "postgresql+psycopg://app@127.0.0.1:5432/apps", "table": "accounts",
                "key_column": "login"}


def put(client: ApiClient, path: str, body: dict):
    return client.client.put(path, body, content_type="application/json",
                             headers=client.headers)


def fields(response) -> set[str]:
    return {error["field"] for error in response.json().get("errors") or []}


def new_system(api: ApiClient, **changes) -> dict:
    body = {"name": "apps-db", "connector": "sql", "settings": SQL_SETTINGS, **changes}
    response = api.post("/api/v1/systems", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_systems_crud_with_a_write_only_secret(api: ApiClient) -> None:
    seen = []
    PasswordPolicy.objects.create(name="strict", min_length=16)
    created = api.post("/api/v1/systems", {
        "name": "apps-db", "connector": "sql", "settings": SQL_SETTINGS, "secret": CANARY,
        "block_delete": True, "validation_policy": "strict"})
    seen.append(created)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret_set"] is True and "secret" not in body
    assert body["block_delete"] is True and body["validation_policy"] == "strict"
    assert body["settings"] == SQL_SETTINGS and body["last_reconciled_at"] is None
    system = System.objects.get(pk=body["id"])
    assert system.secrets()["password"].reveal() == CANARY
    assert Event.objects.filter(action="provisioning.system.create", detail__secret_set=True,
                                target_id=str(system.pk)).exists()

    seen.append(api.get("/api/v1/systems"))
    assert seen[-1].json()["count"] == 1
    seen.append(api.get(f"/api/v1/systems/{system.pk}"))
    assert seen[-1].json()["name"] == "apps-db"

    # Flags go through services.change_flags; no secret given keeps the stored one.
    changed = api.patch(f"/api/v1/systems/{system.pk}", {
        "disabled": True, "name": "apps", "validation_policy": None})
    seen.append(changed)
    assert changed.status_code == 200, changed.content
    assert changed.json()["disabled"] is True and changed.json()["name"] == "apps"
    assert changed.json()["validation_policy"] is None and changed.json()["secret_set"]
    system.refresh_from_db()
    assert system.secrets()["password"].reveal() == CANARY
    assert Event.objects.filter(action="provisioning.system.change",
                                detail__changed={"disabled": True}).exists()
    assert Event.objects.filter(action="provisioning.system.change",
                                detail__changed=["name", "validation_policy"]).exists()

    cleared = api.patch(f"/api/v1/systems/{system.pk}", {"clear_secret": True})
    seen.append(cleared)
    assert cleared.json()["secret_set"] is False
    system.refresh_from_db()
    assert system.secrets() == {}

    assert api.delete(f"/api/v1/systems/{system.pk}").status_code == 204
    assert not System.objects.exists()
    assert Event.objects.filter(action="provisioning.system.delete").exists()
    assert api.get(f"/api/v1/systems/{system.pk}").status_code == 404
    for response in seen:
        assert CANARY.encode() not in response.content


def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(api: ApiClient) -> None:
    missing = api.post("/api/v1/systems", {"name": "x", "connector": "sql",
                                           "settings": {"url": SQL_SETTINGS["url"]}})
    assert missing.status_code == 400 and fields(missing) == {"settings"}
    assert "SQL setting 'table' is empty" in missing.json()["errors"][0]["message"]
    scheme = api.post("/api/v1/systems", {"name": "x", "connector": "sql",
                                          "settings": {**SQL_SETTINGS, "url": "nosuch://h/d"}})
    assert scheme.status_code == 400 and fields(scheme) == {"settings"}
    not_object = api.post("/api/v1/systems", {"name": "x", "connector": "ldap",
                                              "settings": ["a"]})
    assert not_object.status_code == 400 and fields(not_object) == {"settings"}
    unknown = api.post("/api/v1/systems", {"name": "x", "connector": "fax",
                                           "settings": {}})
    assert unknown.status_code == 400 and fields(unknown) == {"connector"}
    policy = api.post("/api/v1/systems", {"name": "x", "connector": "sql",
                                          "settings": SQL_SETTINGS,
                                          "generating_policy": "nope"})
    assert policy.status_code == 400 and fields(policy) == {"generating_policy"}
    assert not System.objects.exists()

    system = new_system(api)
    duplicate = api.post("/api/v1/systems", {"name": "apps-db", "connector": "sql",
                                             "settings": SQL_SETTINGS})
    assert duplicate.status_code == 400 and fields(duplicate) == {"name"}
    null = api.patch(f"/api/v1/systems/{system['id']}", {"disabled": None})
    assert null.status_code == 400 and fields(null) == {"disabled"}
    both = api.patch(f"/api/v1/systems/{system['id']}", {"secret": "s", "clear_secret": True})
    assert both.status_code == 400 and fields(both) == {"clear_secret"}
    # A bad setting refuses the whole change: the flag given with it is not stored.
    bad = api.patch(f"/api/v1/systems/{system['id']}",
                    {"read_only": True, "settings": {"url": SQL_SETTINGS["url"]}})
    assert bad.status_code == 400 and fields(bad) == {"settings"}
    stored = System.objects.get(pk=system["id"])
    assert stored.settings == SQL_SETTINGS and not stored.read_only


def test_scopes_and_owners(api_with, api_for_token, admin_user: User) -> None:
    reader = api_with("provisioning:read")
    assert reader.get("/api/v1/systems").status_code == 200
    refused = reader.post("/api/v1/systems", {"name": "x", "connector": "sql",
                                              "settings": SQL_SETTINGS})
    assert refused.status_code == 403 and "provisioning:write" in refused.json()["detail"]
    assert api_with("users:write").get("/api/v1/operations").status_code == 403
    assert api_with("provisioning:write").get("/api/v1/archive").status_code == 200

    # A token never does more than its owner: an owner without the permissions is refused.
    clerk = User.objects.create_user("clerk@example.com", "Clerk", "Person", password=None)
    clerk.user_permissions.add(Permission.objects.get(codename="view_system"))
    _, clear = issue_token(name="t", scopes=["provisioning:read"], owner=clerk,
                           actor=OPERATOR, door="test")
    answer = api_for_token(clear.reveal()).get("/api/v1/systems")
    assert answer.status_code == 403 and "owner" in answer.json()["detail"]
    assert Event.objects.filter(action="api.auth", outcome=Outcome.DENIED,
                                detail__needed="provisioning:read").exists()
    assert not System.objects.exists()


def test_the_services_decide_for_every_door(db) -> None:
    """A console user or a token owner without the permission is refused, and audited."""
    viewer = User.objects.create_user("viewer@example.com", "View", "Er", password=None)
    viewer.user_permissions.add(Permission.objects.get(codename="view_system"))
    viewer = User.objects.get(pk=viewer.pk)
    actor = Actor.person(viewer)
    with pytest.raises(NotAllowed, match=r"provisioning\.change_system"):
        systems.create_system(System(name="x", connector="sql", settings=SQL_SETTINGS),
                              actor=actor)
    assert Event.objects.filter(action="provisioning.system.create",
                                outcome=Outcome.DENIED).exists()
    system = System.objects.create(name="s", connector="sql", settings=SQL_SETTINGS)
    with pytest.raises(NotAllowed):
        systems.replace_mapping(system, [{"name": "cn", "source": "full_name"}], actor=actor)
    with pytest.raises(NotAllowed):
        systems.set_roles(system, [], actor=actor)
    nobody = Actor.person(User.objects.create_user("n@example.com", "N", "O", password=None))
    with pytest.raises(NotAllowed, match="view_system"):
        systems.test_connection(system, actor=nobody)
    assert not MappedAttribute.objects.exists()


def test_retry_and_cancel_through_the_api(api: ApiClient) -> None:
    system = System.objects.create(name="target", connector="sql", settings=SQL_SETTINGS,
                                   read_only=True)
    op = queue.enqueue(system, "ada", Kind.CREATE, attributes={"cn": "Ada"},
                       password=Secret(CANARY))
    shown = api.get(f"/api/v1/operations/{op.id}")
    assert shown.status_code == 200
    body = shown.json()
    assert body["has_password"] is True and body["system"] == {"id": system.pk,
                                                               "name": "target"}
    assert body["state_in_words"] == "not executed: the system is read-only"
    refused = api.post(f"/api/v1/operations/{op.id}/retry", {})
    assert refused.status_code == 409 and "is read-only" in refused.json()["detail"]

    assert api.patch(f"/api/v1/systems/{system.pk}", {"read_only": False}).status_code == 200
    retried = api.post(f"/api/v1/operations/{op.id}/retry", {})
    assert retried.status_code == 200 and retried.json()["state"] == State.CREATED
    assert Event.objects.filter(action="provisioning.retry").exists()

    cancelled = api.post(f"/api/v1/operations/{op.id}/cancel", {})
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == State.CANCELLED and cancelled.json()["had_password"]
    assert not Operation.objects.exists()
    again = api.post(f"/api/v1/operations/{op.id}/cancel", {})
    assert again.status_code == 409 and "not in the queue" in again.json()["detail"]
    assert api.get(f"/api/v1/operations/{op.id}").status_code == 404
    for response in (shown, refused, retried, cancelled, again):
        assert CANARY.encode() not in response.content


def test_queue_and_archive_filters(api: ApiClient) -> None:
    one = System.objects.create(name="one", connector="sql", settings=SQL_SETTINGS)
    two = System.objects.create(name="two", connector="sql", settings=SQL_SETTINGS,
                                read_only=True)
    queue.enqueue(one, "ada", Kind.CREATE)
    queue.enqueue(one, "grace", Kind.UPDATE, attributes={"cn": "Grace"})
    queue.enqueue(two, "ada.l", Kind.DELETE)
    gone = queue.enqueue(two, "linus", Kind.CREATE)
    queue.cancel(gone.id)

    def accounts(path: str, **params) -> list[str]:
        response = api.get(path, **params)
        assert response.status_code == 200, response.content
        return sorted(item["account_name"] for item in response.json()["items"])

    assert accounts("/api/v1/operations") == ["ada", "ada.l", "grace"]
    assert accounts("/api/v1/operations", system="one") == ["ada", "grace"]
    assert accounts("/api/v1/operations", system=str(two.pk)) == ["ada.l"]
    assert accounts("/api/v1/operations", kind="update") == ["grace"]
    assert accounts("/api/v1/operations", state="not_executed") == ["ada.l"]
    assert accounts("/api/v1/operations", state="created", system="one") == ["ada", "grace"]
    assert accounts("/api/v1/operations", account="ada") == ["ada", "ada.l"]
    assert accounts("/api/v1/operations", system="nosuch") == []
    assert api.get("/api/v1/operations", state="sleeping").status_code == 400
    assert accounts("/api/v1/archive") == ["linus"]
    assert accounts("/api/v1/archive", system="one") == []
    assert accounts("/api/v1/archive", state="cancelled", kind="create") == ["linus"]
    assert ArchivedOperation.objects.count() == 1


def test_mapping_is_replaced_whole_or_not_at_all(api: ApiClient) -> None:
    system = new_system(api)
    url = f"/api/v1/systems/{system['id']}/mapping"
    good = put(api, url, {"mapping": [
        {"name": "cn", "source": "full_name"},
        {"name": "__PASSWORD__", "is_password": True},
        {"name": "o", "constant": "Example"}]})
    assert good.status_code == 200, good.content
    assert [row["name"] for row in good.json()["mapping"]] == ["cn", "__PASSWORD__", "o"]
    assert Event.objects.filter(action="provisioning.mapping.change").count() == 1

    bad = put(api, url, {"mapping": [
        {"name": "mail", "source": "email"},
        {"name": "__PASSWORD__"},
        {"name": "sn", "script": "value +"}]})
    assert bad.status_code == 400
    assert fields(bad) == {"mapping[1].is_password", "mapping[2].script"}
    twice = put(api, url, {"mapping": [{"name": "cn"}, {"name": "cn", "constant": "x"}]})
    assert twice.status_code == 400 and fields(twice) == {"mapping[1].name"}
    assert [row["name"] for row in api.get(url).json()["mapping"]] == [
        "cn", "__PASSWORD__", "o"]
    assert Event.objects.filter(action="provisioning.mapping.change").count() == 1
    assert put(api, url, {"mapping": []}).json() == {"mapping": []}


def test_roles_linked_give_and_take_accounts(api: ApiClient) -> None:
    system = new_system(api)
    person = User.objects.create_user("ada@example.test", "Ada", "Lovelace", password=None,
                                      username="ada")
    role = Role.objects.create(name="engineers")
    role.users.add(person)
    url = f"/api/v1/systems/{system['id']}/roles"
    linked = put(api, url, {"roles": ["engineers"]})
    assert linked.status_code == 200, linked.content
    assert linked.json() == {"roles": [{"id": role.pk, "name": "engineers"}]}
    created = Operation.objects.get(account_name="ada")
    assert created.kind == Kind.CREATE
    assert Event.objects.filter(action="provisioning.roles.change",
                                detail__added=["engineers"]).exists()

    unknown = put(api, url, {"roles": [role.pk, "nosuch", 99999]})
    assert unknown.status_code == 400 and fields(unknown) == {"roles"}
    assert "nosuch" in unknown.json()["errors"][0]["message"]

    assert put(api, url, {"roles": []}).json() == {"roles": []}
    removal = Operation.objects.filter(account_name="ada").order_by("-id").first()
    assert removal.kind == Kind.UPDATE and removal.attributes == {"__ENABLE__": False}
    assert api.get(url).json() == {"roles": []}


def test_connection_test_and_schema_read_against_slapd(api: ApiClient,
                                                       ldap_system: System) -> None:
    works = api.post(f"/api/v1/systems/{ldap_system.pk}/test", {})
    assert works.status_code == 200
    assert works.json() == {"ok": True, "message": f"{ldap_system.name}: connection works."}
    read = api.post(f"/api/v1/systems/{ldap_system.pk}/schema", {})
    assert read.status_code == 200
    names = {a["name"] for a in read.json()["attributes"]}
    assert {"cn", "sn", "mail", "__PASSWORD__"} <= names
    assert api.get(f"/api/v1/systems/{ldap_system.pk}/schema").json() == read.json()

    # The mapping is now checked against the schema read.
    refused = put(api, f"/api/v1/systems/{ldap_system.pk}/mapping",
                  {"mapping": [{"name": "shoeSize", "constant": "42"}]})
    assert refused.status_code == 400 and fields(refused) == {"mapping[0].name"}

    assert api.patch(f"/api/v1/systems/{ldap_system.pk}",
                     {"secret": "wrong-password"}).status_code == 200
    fails = api.post(f"/api/v1/systems/{ldap_system.pk}/test", {})
    assert fails.status_code == 200 and fails.json()["ok"] is False
    assert "Invalid credentials" in fails.json()["message"]
    unread = api.post(f"/api/v1/systems/{ldap_system.pk}/schema", {})
    assert unread.status_code == 409 and "Invalid credentials" in unread.json()["detail"]


def test_a_connection_test_of_an_unreachable_system_is_ok_false(api: ApiClient) -> None:
    system = new_system(api, settings={**SQL_SETTINGS,
                                       "url": "postgresql+psycopg://app@127.0.0.1:1/apps"})
    answer = api.post(f"/api/v1/systems/{system['id']}/test", {})
    assert answer.status_code == 200 and answer.json()["ok"] is False
    assert answer.json()["message"].startswith("apps-db: ")
    # A URL that is no LDAP URL is refused when the system is saved, naming the setting.
    odd = api.post("/api/v1/systems", {"name": "odd", "connector": "ldap",
                                       "settings": {"url": "not a url", "base_dn": "dc=example"}})
    assert odd.status_code == 400 and fields(odd) == {"settings"}
    assert "'url' must be an LDAP URL" in odd.json()["detail"]


def test_password_policies(api: ApiClient) -> None:
    created = api.post("/api/v1/password-policies", {"name": "long", "min_length": 20,
                                                     "min_digits": 2})
    assert created.status_code == 201, created.content
    policy = created.json()
    assert policy["generated_length"] == 24 and policy["min_digits"] == 2
    assert Event.objects.filter(action="provisioning.policy.create").exists()
    too_many = api.post("/api/v1/password-policies", {"name": "x", "max_length": 8,
                                                      "min_digits": 5, "min_symbols": 5})
    assert too_many.status_code == 400 and fields(too_many) == {"max_length", "min_length"}
    url = f"/api/v1/password-policies/{policy['id']}"
    short = api.patch(url, {"max_length": 10})
    assert short.status_code == 400 and fields(short) == {"min_length"}
    assert api.patch(url, {"generated_length": 32}).json()["generated_length"] == 32
    api.post("/api/v1/password-policies", {"name": "default", "default_for_generation": True})
    second = api.patch(url, {"default_for_generation": True})
    assert second.status_code == 400 and fields(second) == {"default_for_generation"}
    assert "already the default generating policy" in second.content.decode()
    assert api.get("/api/v1/password-policies").json()["count"] == 2

    new_system(api, generating_policy="long")
    used = api.delete(url)
    assert used.status_code == 409 and "apps-db" in used.json()["detail"]
    System.objects.all().delete()
    assert api.delete(url).status_code == 204
    assert Event.objects.filter(action="provisioning.policy.delete").exists()


@pytest.mark.parametrize("connector, given", [
    ("ldap", {"url": "ldap://h", "base_dn": "dc=x", "timeout": "soon"}),
    ("ldap", {"url": "ldap://h", "base_dn": "dc=x", "password_mode": "plain"}),
    ("sql", {**SQL_SETTINGS, "url": "postgresql+psycopg://h:notaport/db"}),
    ("sql", {**SQL_SETTINGS, "url": "postgresql+psycopg://app:pw@h/db"}),
    ("sql", {**SQL_SETTINGS, "url": 42}),
    ("scim", {"url": "ftp://apps"}),
    ("scim", {"url": "https://apps", "timeout": [1]}),
    ("ad", {}),
], ids=lambda value: value if isinstance(value, str) else "")
def test_settings_a_connector_cannot_start_with_are_a_400(api: ApiClient, connector: str,
                                                         given: dict) -> None:
    response = api.post("/api/v1/systems", {"name": "x", "connector": connector,
                                            "settings": given})
    assert response.status_code == 400, response.content
    assert fields(response) == {"settings"}
    nul = api.post("/api/v1/systems", {"name": "x", "connector": connector,
                                       "settings": {"url": "ldap://h\x00"}})
    assert nul.status_code == 400 and fields(nul) == {"settings"}
    assert not System.objects.exists()
