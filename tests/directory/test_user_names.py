"""User names beside emails: defaults, uniqueness across both kinds of name, sign-in by
either, and the migration that gives existing people one."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

PASSWORD = "Quarry-Lantern-Mosaic-73"


def create(email: str, username: str | None = None, **extra) -> User:
    values = {"email": email, "given_name": "Test", "family_name": "Person",
              "username": username, **extra}
    return services.create_user(values, actor=OPERATOR, door="test")


def conflict_fields(**values) -> list[str]:
    with pytest.raises(services.Conflict) as caught:
        create(**values)
    return [p.field for p in caught.value.problems]


def test_a_new_person_gets_their_email_as_user_name_unless_one_is_given():
    assert create("Ada@Example.com").username == "ada@example.com"
    assert create("grace@example.com", "E12345").username == "E12345"  # case kept


def test_user_names_are_unique_regardless_of_case():
    create("grace@example.com", "E12345")
    assert conflict_fields(email="alan@example.com", username="e12345") == ["username"]


def test_no_user_name_equals_another_persons_email_and_back():
    create("grace@example.com", "E12345")
    assert conflict_fields(email="alan@example.com", username="Grace@example.com") == [
        "username"]
    create("linus@example.com", "Ada.Lovelace@contoso.example")  # a UPN as user name
    assert conflict_fields(email="ada.lovelace@contoso.example") == ["email"]
    create("e12345@example.com", "T1")  # an email merely containing a user name is fine


def test_the_database_refuses_a_duplicate_user_name_written_around_the_services():
    create("grace@example.com", "E12345")
    twin = User(email="alan@example.com", given_name="Alan", family_name="Turing",
                username="e12345")
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()  # no full_clean: only the unique index stands in the way


def test_external_ids_are_unique_when_set():
    create("grace@example.com", external_id="00u1")
    create("alan@example.com")  # many people without one
    create("ada@example.com")
    assert conflict_fields(email="linus@example.com", external_id="00u1") == ["external_id"]


def test_a_user_name_that_was_the_email_follows_a_new_email():
    ada = create("ada@example.com")
    grace = create("grace@example.com", "E12345")
    services.update_user(ada, {"email": "countess@example.com"}, actor=OPERATOR)
    services.update_user(grace, {"email": "admiral@example.com"}, actor=OPERATOR)
    assert ada.username == "countess@example.com"
    assert grace.username == "E12345"
    services.update_user(grace, {"username": "G1906"}, actor=OPERATOR)
    assert User.objects.get(pk=grace.pk).username == "G1906"


@pytest.mark.parametrize("typed", ["E12345", "e12345", " E12345 ", "grace@example.com",
                                   "GRACE@example.com"])
def test_sign_in_by_email_or_user_name(typed):
    user = create("grace@example.com", "E12345")
    user.set_password(PASSWORD)
    user.save()
    outcome = sign_in_with_password(typed, Secret(PASSWORD))
    assert outcome.result is Result.OK and outcome.user.pk == user.pk


def test_wrong_passwords_by_either_name_count_against_one_account():
    user = create("grace@example.com", "E12345")
    for typed in ("E12345", "grace@example.com", "e12345"):
        assert sign_in_with_password(typed, Secret("not it")).result is Result.FAILED
    assert User.objects.get(pk=user.pk).failed_logins == 3


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_people_their_email_and_keeps_one_external_id():
    executor = MigrationExecutor(connection)
    before = [("directory", "0008_password_rules_passed")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("directory", "User")
    for email in ("ada@example.com", "grace@example.com"):
        old.objects.create(email=email, given_name="T", family_name="P", password="!",
                           external_id="shared")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate([("directory", "0009_user_username")])
        rows = list(User.objects.order_by("pk").values_list("username", "external_id"))
        assert rows == [("ada@example.com", "shared"), ("grace@example.com", "")]
    finally:
        # Leave the database as every other test expects it: fully migrated.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        after = MigrationExecutor(connection)
        assert not after.migration_plan(after.loader.graph.leaf_nodes())


def test_a_source_answer_finds_the_person_by_the_chosen_key():
    from keystead.directory.models import Source, UserKey

    grace = create("grace@example.com", "E12345", external_id="00u1",
                   source=Source.SAML, source_id="a7f3-persistent")
    found = {key: User.objects.identified_by(key, value, source=Source.SAML).first()
             for key, value in ((UserKey.EMAIL, " Grace@Example.com"),
                                (UserKey.USERNAME, "e12345"),
                                (UserKey.EXTERNAL_ID, "00u1"),
                                (UserKey.SOURCE_ID, "a7f3-persistent"))}
    assert all(person == grace for person in found.values()), found
    assert not User.objects.identified_by(UserKey.EXTERNAL_ID, "00U1").exists()  # exact
    assert not User.objects.identified_by(UserKey.SOURCE_ID, "a7f3-persistent",
                                          source=Source.LDAP).exists()
    assert not User.objects.identified_by(UserKey.EXTERNAL_ID, "").exists()
    with pytest.raises(ValueError, match="Unknown user key"):
        User.objects.identified_by("phone", "1")
