"""A group can demand strong second factors: passkeys, authenticator apps or backup codes."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, User
from keystead.login import backup_codes, factors
from keystead.policy.changes import save_group_policy

pytestmark = pytest.mark.django_db
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def admins():
    return Group.objects.create(name="Administrators")


@pytest.fixture
def ada(admins):
    user = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    admins.members.add(user)
    return user


def password_step(client: Client) -> None:
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response["Location"] == "/login/verify/"


def test_email_is_offered_while_the_group_only_requires_a_factor(admins, ada):
    save_group_policy(admins, {"require_second_factor": True}, actor=OPERATOR, door="test")
    assert [m.key for m in factors.methods_for(ada)] == ["email"]


def test_strong_only_leaves_out_email_and_its_page_refuses(admins, ada, deliver):
    save_group_policy(admins, {"require_second_factor": True, "strong_factors_only": True},
                      actor=OPERATOR, door="test")
    assert factors.methods_for(ada) == []
    client = Client()
    password_step(client)
    assert b"no way to confirm your sign-in" in client.get("/login/verify/").content
    refused = client.get("/login/verify/email/")
    assert refused["Location"] == "/login/verify/"
    assert deliver() == []


def test_strong_only_still_accepts_a_backup_code(admins, ada):
    save_group_policy(admins, {"require_second_factor": True, "strong_factors_only": True},
                      actor=OPERATOR, door="test")
    codes = backup_codes.generate(ada)
    assert [m.key for m in factors.methods_for(ada)] == ["backup"]
    client = Client()
    password_step(client)
    assert client.get("/login/verify/")["Location"] == "/login/verify/backup"
    signed_in = client.post("/login/verify/backup", {"code": codes[0].reveal()})
    assert signed_in.status_code == 302
    assert client.get("/").status_code == 200


def test_setting_is_audited_and_reachable_from_the_api(admins, ada, admin_user):
    _, clear = issue_token(name="t", scopes=["policy:write"], owner=admin_user,
                           actor=OPERATOR, door="test")
    response = Client().patch(
        f"/api/v1/groups/{admins.pk}/policy", {"strong_factors_only": True},
        content_type="application/json", headers={"Authorization": f"Bearer {clear.reveal()}"})
    assert response.status_code == 201, response.content  # the group had no policy yet
    assert response.json()["strong_factors_only"] is True
    event = Event.objects.get(action="policy.group.create")
    assert event.detail["settings"]["strong_factors_only"] is True
    bad = Client().patch(
        f"/api/v1/groups/{admins.pk}/policy", {"strong_factors_only": "maybe"},
        content_type="application/json", headers={"Authorization": f"Bearer {clear.reveal()}"})
    assert bad.status_code == 400
