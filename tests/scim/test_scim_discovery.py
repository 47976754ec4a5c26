"""Discovery endpoints, checked with scim2-models' own parsers (an independent reading)."""

import pytest
from scim2_models import ResourceType, Schema, ScimProvider, ServiceProviderConfig
from scim_helpers import assert_scim_error

pytestmark = pytest.mark.django_db

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_service_provider_config(scim, settings):
    settings.BASE_URL = "https://id.example.com"
    body = scim.get("ServiceProviderConfig").json()
    config = ServiceProviderConfig.model_validate(body)
    assert config.patch.supported and config.filter.supported and config.etag.supported
    assert config.change_password.supported and config.sort.supported
    assert not config.bulk.supported
    assert config.filter.max_results == 1000
    assert config.authentication_schemes[0].type == "oauthbearertoken"
    assert body["meta"]["location"] == "https://id.example.com/scim/v2/ServiceProviderConfig"


def test_schemas_list_and_one(scim):
    body = scim.get("Schemas").json()
    assert body["totalResults"] == 2
    schemas = {s["id"]: Schema.model_validate(s) for s in body["Resources"]}
    assert set(schemas) == {USER_URN, GROUP_URN}
    user = {a.name: a for a in schemas[USER_URN].attributes}
    assert user["password"].mutability == "writeOnly" and user["password"].returned == "never"
    assert user["groups"].mutability == "readOnly"
    assert user["userName"].uniqueness == "server" and not user["userName"].case_exact
    family = next(s for s in user["name"].sub_attributes if s.name == "familyName")
    assert family.required
    one = scim.get(f"Schemas/{USER_URN}").json()
    assert one["id"] == USER_URN and one["meta"]["resourceType"] == "Schema"


def test_resource_types(scim):
    body = scim.get("ResourceTypes").json()
    types = {r["name"]: ResourceType.model_validate(r) for r in body["Resources"]}
    assert types["User"].endpoint == "/Users" and types["User"].schema_ == USER_URN
    assert types["Group"].endpoint == "/Groups"
    assert scim.get("ResourceTypes/Group").json()["schema"] == GROUP_URN


def test_published_schemas_build_working_models(scim):
    schemas = [Schema.model_validate(s) for s in scim.get("Schemas").json()["Resources"]]
    types = [ResourceType.model_validate(r)
             for r in scim.get("ResourceTypes").json()["Resources"]]
    provider = ScimProvider.from_discovery(schemas, types)
    user_model = provider.model_for("User")
    created = scim.post("Users", {"schemas": [USER_URN], "userName": "ada@example.com",
                                  "name": {"givenName": "Ada", "familyName": "Lovelace"},
                                  "emails": [{"value": "ada@example.com"}]})
    user = user_model.model_validate(created.json())
    assert user.user_name == "ada@example.com"


def test_discovery_refuses_filters(scim):
    assert_scim_error(scim.get("Schemas", filter='id eq "x"'), 403)
    assert_scim_error(scim.get("ServiceProviderConfig", filter='id eq "x"'), 403)


def test_service_provider_config_tells_the_truth(scim, make_user):
    """Each feature the config claims works, and the one it denies (bulk) is refused."""
    from keystead.directory.models import User

    config = scim.get("ServiceProviderConfig").json()
    ada = make_user("ada@example.com", "Ada", "Lovelace")
    make_user("grace@example.com", "Grace", "Hopper")

    assert config["bulk"]["supported"] is False
    assert_scim_error(scim.post("Bulk", {"Operations": []}), 501)

    assert config["sort"]["supported"] is True
    listed = scim.get("Users", sortBy="name.familyName", sortOrder="descending").json()
    names = [u["name"]["familyName"] for u in listed["Resources"]]
    assert names == sorted(names, key=str.lower, reverse=True)

    assert config["etag"]["supported"] is True
    etag = scim.get(f"Users/{ada.pk}")["ETag"]
    assert scim.call("GET", f"Users/{ada.pk}", headers={"If-None-Match": etag}).status_code == 304

    assert config["changePassword"]["supported"] is True
    scim.patch(f"Users/{ada.pk}", {"op": "replace", "path": "password",
                                   "value": "a long and new passphrase 7"})
    ada.refresh_from_db()
    assert ada.check_password("a long and new passphrase 7")

    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    most = config["filter"]["maxResults"]
    User.objects.bulk_create(User(username=f"u{i}", email=f"u{i}@example.com", given_name="U",
                                  family_name=str(i)) for i in range(most))
    page = scim.get("Users", filter='userName pr', count=most + 500).json()
    assert page["totalResults"] > most
    assert page["itemsPerPage"] == len(page["Resources"]) == most
