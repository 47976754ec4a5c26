"""Listing Users: filters against real rows, pagination, sorting, projection, .search."""

from datetime import timedelta

import pytest
from django.utils import timezone
from scim_helpers import assert_scim_error

from keystead.directory.models import Group, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(make_user):
    ada = make_user("ada@example.com", "Ada", "Lovelace", external_id="E-1")
    alan = make_user("alan@example.org", "Alan", "Turing", is_active=False)
    grace = make_user("grace@example.com", "Grace", "Hopper")
    return {"ada": ada, "alan": alan, "grace": grace}


def names(scim, expression, **params):
    response = scim.get("Users", filter=expression, **params)
    assert response.status_code == 200, response.content
    return sorted(r["userName"].split("@")[0] for r in response.json()["Resources"]
                  if r["userName"] != "root@example.com")


@pytest.mark.parametrize(("expression", "expected"), [
    ('userName eq "ADA@example.com"', ["ada"]),
    ('userName ne "ada@example.com" and userName ne "root@example.com"', ["alan", "grace"]),
    ('userName co "@example.org"', ["alan"]),
    ('userName sw "a"', ["ada", "alan"]),
    ('userName ew ".COM" and name.givenName sw "g"', ["grace"]),
    ('name.familyName eq "turing"', ["alan"]),
    ('displayName eq "Grace Hopper"', ["grace"]),
    ('name.formatted co "Love"', ["ada"]),
    ("active eq false", ["alan"]),
    ("not (active eq true)", ["alan"]),
    ('externalId eq "E-1"', ["ada"]),
    ('externalId eq "e-1"', []),
    ("externalId pr", ["ada"]),
    ('emails.value eq "grace@example.com"', ["grace"]),
    ('emails[type eq "work" and value sw "gr"]', ["grace"]),
    ('(userName sw "a" or userName sw "g") and active eq true', ["ada", "grace"]),
    ('name.familyName gt "m" and name.familyName lt "z"', ["alan"]),
    ('userName eq "nobody@example.com"', []),
    ('meta.resourceType eq "User" and userName sw "g"', ["grace"]),
    ('meta.resourceType eq "user"', []),  # caseExact (RFC 7643 §3.1)
    ("emails.primary eq true and emails.type eq \"WORK\" and userName sw \"g\"", ["grace"]),
])
def test_filters(scim, crowd, expression, expected):
    assert names(scim, expression) == expected


def test_filter_on_id_and_groups(scim, crowd):
    group = Group.objects.create(name="Pioneers")
    group.members.add(crowd["ada"], crowd["grace"])
    assert names(scim, f'id eq "{crowd["alan"].pk}"') == ["alan"]
    assert names(scim, f'groups.value eq "{group.pk}"') == ["ada", "grace"]
    assert names(scim, 'groups.display eq "pioneers"') == ["ada", "grace"]


def test_filter_on_last_modified(scim, crowd):
    past = timezone.now() - timedelta(days=3)
    User.objects.filter(pk=crowd["alan"].pk).update(updated_at=past)
    cutoff = (past + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert names(scim, f'meta.lastModified lt "{cutoff}"') == ["alan"]
    assert names(scim, f'meta.lastModified ge "{cutoff}"') == ["ada", "grace"]
    stamp = scim.get(f"Users/{crowd['ada'].pk}").json()["meta"]["lastModified"]
    assert names(scim, f'meta.lastModified eq "{stamp}"') == ["ada"]


@pytest.mark.parametrize("expression", [
    'userName regex "a"', "userName eq", 'nickName eq "x"', "active gt false",
    'emails.primary eq "true"',  # a boolean, compared with a string
    'meta.lastModified gt "soon"', "(", 'userName eq "a" garbage',
])
def test_bad_filters_are_invalid_filter(scim, crowd, expression):
    body = assert_scim_error(scim.get("Users", filter=expression), 400, "invalidFilter")
    assert body["detail"].startswith("Invalid filter: ")


def test_pagination(scim, make_user):
    for i in range(7):
        make_user(f"user{i}@example.com")
    everyone = scim.get("Users").json()
    assert everyone["totalResults"] == 8
    ids = [r["id"] for r in everyone["Resources"]]
    assert ids == sorted(ids, key=int)
    page = scim.get("Users", startIndex=3, count=2).json()
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (8, 2, 3)
    assert [r["id"] for r in page["Resources"]] == ids[2:4]
    tail = scim.get("Users", startIndex=7, count=5).json()
    assert [r["id"] for r in tail["Resources"]] == ids[6:]
    beyond = scim.get("Users", startIndex=50).json()
    assert (beyond["totalResults"], beyond["itemsPerPage"], beyond["Resources"]) == (8, 0, [])
    counted = scim.get("Users", count=0).json()
    assert (counted["totalResults"], counted["Resources"]) == (8, [])
    clamped = scim.get("Users", startIndex=0, count=-4).json()
    assert (clamped["startIndex"], clamped["itemsPerPage"]) == (1, 0)


def test_extreme_paging_values_are_harmless(scim, make_user):
    huge = scim.get("Users", startIndex=10**30, count=10**30)
    assert huge.status_code == 200
    assert (huge.json()["totalResults"], huge.json()["Resources"]) == (1, [])
    assert scim.get("Users", filter="").json()["totalResults"] == 1


def test_count_is_capped_at_max_results(scim, make_user):
    from keystead.api.scim.listing import MAX_RESULTS
    response = scim.get("Users", count=MAX_RESULTS * 10)
    assert response.status_code == 200


@pytest.mark.parametrize("params", [{"count": "ten"}, {"startIndex": "1.5"},
                                    {"sortOrder": "sideways"}, {"sortBy": "password"}])
def test_bad_paging_parameters(scim, params):
    assert_scim_error(scim.get("Users", **params), 400, "invalidValue")


def test_sorting(scim, crowd):
    body = scim.get("Users", sortBy="name.familyName", sortOrder="descending").json()
    families = [r["name"]["familyName"] for r in body["Resources"]]
    assert families == ["Turing", "Lovelace", "Hopper", "Admin"]


def test_attributes_and_excluded_attributes(scim, crowd):
    body = scim.get("Users", attributes="userName,name.familyName",
                    filter='userName eq "ada@example.com"').json()
    assert body["Resources"][0] == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": str(crowd["ada"].pk), "userName": "ada@example.com",
        "name": {"familyName": "Lovelace"}}
    one = scim.get(f"Users/{crowd['ada'].pk}", excludedAttributes="meta,emails,name").json()
    assert not {"meta", "emails", "name"} & set(one)
    assert one["userName"] == "ada@example.com"


def test_search_with_post(scim, crowd):
    response = scim.post("Users/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["userName"], "filter": 'userName sw "a"', "startIndex": 1, "count": 10})
    assert response.status_code == 200, response.content
    assert sorted(r["userName"] for r in response.json()["Resources"]) == [
        "ada@example.com", "alan@example.org"]
    assert_scim_error(scim.post("Users/.search", {"filter": "bad"}), 400, "invalidFilter")


def test_list_query_count_does_not_grow_with_users(scim, make_user,
                                                   django_assert_max_num_queries):
    group = Group.objects.create(name="G")
    for i in range(20):
        group.members.add(make_user(f"u{i}@example.com"))
    with django_assert_max_num_queries(8):
        assert len(scim.get("Users").json()["Resources"]) == 21


def test_search_at_the_root_covers_users_and_groups(scim, crowd):
    group = Group.objects.create(name="Ada fans")
    group.members.add(crowd["ada"])
    body = scim.post("/scim/v2/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'userName eq "ada@example.com" or members.value eq "{crowd["ada"].pk}"',
        "attributes": ["userName", "displayName"]}).json()
    assert body["totalResults"] == 2
    assert [r["schemas"][0].rsplit(":", 1)[1] for r in body["Resources"]] == ["User", "Group"]
    assert body["Resources"][1] == {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                    "id": str(group.pk), "displayName": "Ada fans"}
    # Users have no members: a filter on them leaves Users out; one nobody knows is refused.
    assert scim.get("/scim/v2/", filter='displayName eq "Ada fans"').json()["totalResults"] == 1
    groups_only = scim.get("/scim/v2/", filter=f'members.value eq "{crowd["ada"].pk}"').json()
    assert [r["id"] for r in groups_only["Resources"]] == [str(group.pk)]
    assert_scim_error(scim.get("/scim/v2/", filter='nickName eq "x"'), 400, "invalidFilter")


def test_root_search_pages_across_types(scim, crowd):
    Group.objects.create(name="G1")
    Group.objects.create(name="G2")
    everything = scim.get("/scim/v2/", sortBy="userName").json()
    assert everything["totalResults"] == 6  # root + 3 users + 2 groups
    page = scim.get("/scim/v2/", startIndex=4, count=2).json()
    assert [r["schemas"][0].rsplit(":", 1)[1] for r in page["Resources"]] == ["User", "Group"]
    assert page["itemsPerPage"] == 2


def test_root_search_still_refuses_a_wrong_value_type(scim, crowd):
    assert_scim_error(scim.get("/scim/v2/", filter='active eq "maybe"'), 400, "invalidFilter")


def test_each_condition_on_a_multi_valued_attribute_matches_on_its_own(scim, crowd):
    """RFC 7644 §3.4.2.2: a multi-valued attribute matches if any of its values does, so
    two conditions joined by 'and' may be met by two different values (a person in both
    groups; a group holding both people). Inside one value filter they describe one value."""
    pioneers = Group.objects.create(name="Pioneers")
    pioneers.members.add(crowd["ada"], crowd["grace"])
    navy = Group.objects.create(name="Navy")
    navy.members.add(crowd["grace"])
    assert names(scim, 'groups.display eq "Pioneers" and groups.display eq "Navy"') == ["grace"]
    assert names(scim, f'groups[value eq "{pioneers.pk}"] and groups[value eq "{navy.pk}"]') \
        == ["grace"]
    assert names(scim, 'groups.display eq "Pioneers" and not (groups.display eq "Navy")') \
        == ["ada"]
    # One value filter: the same group must have both the id and the name.
    assert names(scim, f'groups[value eq "{navy.pk}" and display eq "Pioneers"]') == []

    def groups(expression):
        response = scim.get("Groups", filter=expression)
        assert response.status_code == 200, response.content
        return sorted(g["displayName"] for g in response.json()["Resources"])

    ada, grace = crowd["ada"].pk, crowd["grace"].pk
    assert groups(f'members.value eq "{ada}" and members.value eq "{grace}"') == ["Pioneers"]
    assert groups(f'members[value eq "{ada}"] and members[value eq "{grace}"]') == ["Pioneers"]
    assert groups(f'members[value eq "{grace}"] and not (members[value eq "{ada}"])') == ["Navy"]
    listed = scim.get("Groups", filter=f'members eq "{grace}"').json()
    assert listed["totalResults"] == len(listed["Resources"]) == 2  # no duplicate rows


def test_listed_versions_are_the_versions_if_match_accepts(scim, crowd):
    """meta.version in a list is the resource's version (RFC 7644 §3.14), whatever the
    projection left out; Entra ID lists groups with excludedAttributes=members."""
    group = Group.objects.create(name="Pioneers")
    group.members.add(crowd["ada"])
    ada = crowd["ada"].pk
    etag = scim.get(f"Users/{ada}")["ETag"]
    for params in ({"excludedAttributes": "groups"}, {"attributes": "userName,meta"},
                   {"attributes": "meta.version"}):
        listed = scim.get("Users", filter=f'id eq "{ada}"', **params).json()["Resources"][0]
        assert listed["meta"]["version"] == etag, params
    group_etag = scim.get(f"Groups/{group.pk}")["ETag"]
    listed = scim.get("Groups", excludedAttributes="members").json()["Resources"][0]
    assert "members" not in listed
    assert listed["meta"].get("version", group_etag) == group_etag
    patched = scim.patch(f"Users/{ada}", {"op": "replace", "path": "active", "value": False},
                         headers={"If-Match": etag})
    assert patched.status_code == 200, patched.content
