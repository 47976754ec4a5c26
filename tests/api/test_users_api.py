import pytest

from keystead.directory.models import Event, User

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

ADA = {"email": "Ada@Example.com", "given_name": "Ada", "family_name": "Lovelace"}


def test_create_user_normalizes_email_and_audits(api):
    response = api.post("/api/v1/users", ADA)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada Lovelace"
    event = Event.objects.get(action="user.create")
    assert event.target_id == str(body["id"])
    assert "(token " in event.actor_label
    assert event.detail["door"] == "api"


def test_missing_family_name_is_refused_naming_the_field(api):
    response = api.post("/api/v1/users", {"email": "x@example.com", "given_name": "X"})
    assert response.status_code == 400
    assert any(e["field"] == "family_name" for e in response.json()["errors"])
    assert not User.objects.filter(email="x@example.com").exists()


def test_blank_family_name_is_refused_naming_the_field(api):
    response = api.post("/api/v1/users", {**ADA, "family_name": "   "})
    assert response.status_code == 400
    assert "Family name is required" in response.json()["errors"][0]["message"]


def test_every_problem_reported_at_once(api):
    response = api.post(
        "/api/v1/users", {"email": "nope", "given_name": "", "family_name": ""}
    )
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"email", "given_name", "family_name"}


def test_email_unique_regardless_of_case(api):
    assert api.post("/api/v1/users", ADA).status_code == 201
    response = api.post("/api/v1/users", {**ADA, "email": "ADA@EXAMPLE.COM"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


def test_patch_keeps_omitted_fields_and_refuses_blanking_family_name(api):
    user_id = api.post("/api/v1/users", ADA).json()["id"]
    assert api.patch(f"/api/v1/users/{user_id}", {"given_name": "Augusta"}).json()[
        "family_name"
    ] == "Lovelace"
    response = api.patch(f"/api/v1/users/{user_id}", {"family_name": ""})
    assert response.status_code == 400
    assert User.objects.get(pk=user_id).family_name == "Lovelace"


def test_set_password_and_never_echo_it(api):
    user_id = api.post("/api/v1/users", ADA).json()["id"]
    response = api.post(f"/api/v1/users/{user_id}/password", {"password": "Zebra-Quartz-91"})
    assert response.status_code == 204
    assert User.objects.get(pk=user_id).check_password("Zebra-Quartz-91")
    assert b"Zebra" not in api.get(f"/api/v1/users/{user_id}").content


def test_list_filters_and_paginates(api):
    for i in range(5):
        api.post("/api/v1/users", {**ADA, "email": f"user{i}@example.com", "given_name": f"U{i}"})
    api.patch(f"/api/v1/users/{User.objects.get(email='user3@example.com').pk}",
              {"is_active": False})
    page = api.get("/api/v1/users", q="user", limit=2, offset=0).json()
    assert page["count"] == 5 and len(page["items"]) == 2
    inactive = api.get("/api/v1/users", active="false").json()
    assert [u["email"] for u in inactive["items"]] == ["user3@example.com"]


def test_delete_user(api):
    user_id = api.post("/api/v1/users", ADA).json()["id"]
    assert api.delete(f"/api/v1/users/{user_id}").status_code == 204
    assert api.get(f"/api/v1/users/{user_id}").status_code == 404
    assert Event.objects.filter(action="user.delete", target_id=str(user_id)).exists()


def test_unknown_user_is_404_with_message(api):
    response = api.get("/api/v1/users/999999")
    assert response.status_code == 404
    assert response.json()["detail"] == "No user with id 999999."


def test_a_user_name_is_taken_shown_searched_and_changed(api):
    body = api.post("/api/v1/users", {**ADA, "username": "E12345"}).json()
    assert (body["username"], body["email"]) == ("E12345", "ada@example.com")
    assert [u["id"] for u in api.get("/api/v1/users", q="e123").json()["items"]] == [body["id"]]
    taken = api.post("/api/v1/users", {"email": "grace@example.com", "given_name": "Grace",
                                       "family_name": "Hopper", "username": "e12345"})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "username"
    blank = api.patch(f"/api/v1/users/{body['id']}", {"username": " E1"})
    assert blank.status_code == 400 and blank.json()["errors"][0]["field"] == "username"
    changed = api.patch(f"/api/v1/users/{body['id']}", {"username": "L1815"}).json()
    assert changed["username"] == "L1815"
    assert Event.objects.filter(action="user.update", detail__changed=["username"]).exists()
