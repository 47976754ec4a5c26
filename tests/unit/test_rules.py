from keystead.directory.rules import name_problems, normalize_email, person_problems


def fields(problems):
    return [p.field for p in problems]


def test_complete_person_has_no_problems():
    assert person_problems(email="ada@example.com", given_name="Ada", family_name="Lovelace") == []


def test_blank_or_missing_family_name_is_named():
    for blank in (None, "", "   "):
        problems = person_problems(email="a@example.com", given_name="Ada", family_name=blank)
        assert fields(problems) == ["family_name"]
        assert problems[0].message.startswith("Family name is required")


def test_every_problem_is_reported_at_once():
    problems = person_problems(email="not an email", given_name="", family_name=None)
    assert fields(problems) == ["email", "given_name", "family_name"]


def test_overlong_values_are_refused_with_the_limit():
    problems = person_problems(email="a@example.com", given_name="x" * 151, family_name="y")
    assert problems[0].message == "Given name must be at most 150 characters."


def test_email_is_normalized_for_case_insensitive_sign_in():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"


def test_names_of_groups_and_roles():
    assert name_problems("Ops") == []
    assert fields(name_problems(" ", label="Group")) == ["name"]


def test_a_user_name_may_be_any_printable_text_up_to_the_limit():
    from keystead.directory.rules import MAX_USERNAME_LENGTH, username_problems

    for fine in ("E12345", "ada.lovelace@contoso.onmicrosoft.com", "Ådå Łovelace", "x" * 254):
        assert username_problems(fine) == [], fine
    refused = {"": "required", "   ": "required", " ada": "surrounding spaces",
               "ada ": "surrounding spaces", "ada\tl": "printable", "ada\x00": "printable",
               "x" * (MAX_USERNAME_LENGTH + 1): "at most 254"}
    for value, words in refused.items():
        problems = username_problems(value)
        assert fields(problems) == ["username"] and words in problems[0].message, value


def test_a_user_name_is_checked_only_when_given():
    base = {"email": "a@example.com", "given_name": "Ada", "family_name": "Lovelace"}
    assert person_problems(**base) == []
    assert fields(person_problems(**base, username=" E1")) == ["username"]
