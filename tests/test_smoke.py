"""Fast end-to-end checks that also run on the embedded SQLite database."""

import pytest

from keystead.directory.models import Event, User

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_sign_in_page_signs_in_and_audits(client):
    User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="Analytical-Engine-1")
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/login/", {"username": "ADA@example.com",
                                       "password": "Analytical-Engine-1"})
    assert response.status_code == 302
    assert b"ada@example.com" in client.get("/").content
    assert Event.objects.filter(action="login", outcome="success").exists()


def test_wrong_password_gives_the_generic_answer(client):
    User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="Analytical-Engine-1")
    wrong = client.post("/login/", {"username": "ada@example.com", "password": "nope"})
    unknown = client.post("/login/", {"username": "who@example.com", "password": "nope"})
    assert b"The email, user name or password is not right" in wrong.content
    assert b"The email, user name or password is not right" in unknown.content
    assert Event.objects.filter(action="login", outcome="failure").count() == 2


def test_admin_console_behind_the_sign_in_page(client, admin_user):
    assert client.get("/admin/").status_code == 302
    client.post("/login/", {"username": admin_user.email,
                            "password": "correct horse battery staple"})
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Keystead" in response.content


def test_api_creates_and_lists_users(api):
    created = api.post("/api/v1/users", {"email": "grace@example.com", "given_name": "Grace",
                                         "family_name": "Hopper"})
    assert created.status_code == 201
    assert [u["email"] for u in api.get("/api/v1/users", q="grace").json()["items"]] == [
        "grace@example.com"
    ]


def test_openapi_description_is_served(client):
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/users" in schema["paths"]
    assert client.get("/api/docs").status_code == 200
