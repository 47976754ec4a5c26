"""A change made through a copy read earlier keeps what others changed since.

Doors read a record and hand it to a service (the API reads the person, a directory
sync reads a page of people, the console's form holds the application). Whatever
happened to the record in between (a new password, a lockout, a disable, a new client
secret) must survive the change, which names only its own fields.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import get_application_model

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Group, Role, User
from keystead.directory.rules import Conflict
from keystead.login import lockout
from keystead.policy.lockout import LockoutRules
from keystead.providers.oidc import client_secrets, clients
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

FIRST = "Quartz-Lantern-Meadow-1906"
SECOND = "Harbour-Violet-Engine-7731"
Application = get_application_model()


def test_a_person_changed_through_an_earlier_copy_keeps_password_lock_and_disable():
    person = User.objects.create_user("grace@example.com", "Grace", "Hopper", password=FIRST)
    earlier = User.objects.get(pk=person.pk)  # as the API's PATCH or a sync page read it
    services.set_password(User.objects.get(pk=person.pk), Secret(SECOND), actor=OPERATOR)
    for _ in range(3):
        lockout.register_failure(User.objects.get(pk=person.pk), LockoutRules(3, 15))
    services.set_active(User.objects.get(pk=person.pk), False, actor=OPERATOR)

    changed = services.update_user(earlier, {"given_name": "Amazing"}, actor=OPERATOR)

    now = User.objects.get(pk=person.pk)
    assert now.given_name == "Amazing" == changed.given_name
    assert now.check_password(SECOND) and not now.check_password(FIRST)
    assert now.is_locked() and now.failed_logins == 3
    assert not now.is_active and not changed.is_active


def test_a_person_deleted_meanwhile_is_a_conflict_not_a_new_row():
    person = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=FIRST)
    earlier = User.objects.get(pk=person.pk)
    User.objects.filter(pk=person.pk).delete()
    with pytest.raises(Conflict, match="deleted meanwhile"):
        services.update_user(earlier, {"given_name": "Augusta"}, actor=OPERATOR)
    assert not User.objects.filter(email="ada@example.com").exists()


def test_an_application_changed_through_an_earlier_copy_keeps_its_new_secret():
    app, first = clients.register_client(
        name="crm", client_type=Application.CLIENT_CONFIDENTIAL,
        grant_types=["authorization-code"], redirect_uris=["https://crm.example.com/cb"],
        post_logout_redirect_uris=[], skip_consent=False, settings={}, actor=OPERATOR)
    earlier = Application.objects.get(pk=app.pk)  # as the console's form or the API read it
    second = client_secrets.new_client_secret(Application.objects.get(pk=app.pk),
                                              actor=OPERATOR)

    clients.change_client(earlier, changes={"name": "CRM"}, actor=OPERATOR)

    stored = Application.objects.get(pk=app.pk)
    assert stored.name == "CRM"
    assert check_password(second.reveal(), stored.client_secret)
    assert not check_password(first, stored.client_secret)


def test_a_group_and_a_role_changed_through_earlier_copies_keep_what_changed_since():
    group = services.save_group(None, actor=OPERATOR, name="ops", description="On call")
    role = services.save_role(None, actor=OPERATOR, name="admins", description="Root")
    earlier_group, earlier_role = Group.objects.get(pk=group.pk), Role.objects.get(pk=role.pk)
    services.save_group(Group.objects.get(pk=group.pk), actor=OPERATOR, name="operations")
    services.save_role(Role.objects.get(pk=role.pk), actor=OPERATOR, name="administrators")

    services.save_group(earlier_group, actor=OPERATOR, description="Nights and weekends")
    services.save_role(earlier_role, actor=OPERATOR, description="Everything")

    assert Group.objects.filter(pk=group.pk).values_list("name", "description").get() == (
        "operations", "Nights and weekends")
    assert Role.objects.filter(pk=role.pk).values_list("name", "description").get() == (
        "administrators", "Everything")
    Group.objects.filter(pk=group.pk).delete()
    with pytest.raises(Conflict, match="group was deleted meanwhile"):
        services.save_group(earlier_group, actor=OPERATOR, description="Gone")
    assert not Group.objects.filter(pk=group.pk).exists()
