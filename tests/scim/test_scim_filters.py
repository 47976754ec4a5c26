"""The filter grammar and its translation to Q: pure, no database."""

from datetime import UTC, datetime

import pytest
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from keystead.api.scim.filters import (
    And,
    AttrPath,
    Compare,
    FilterSyntaxError,
    Not,
    Or,
    PatchPath,
    ValuePath,
    parse_filter,
    parse_path,
)
from keystead.api.scim.groups import COLUMNS as GROUP_COLUMNS
from keystead.api.scim.queries import FilterError, order_by, to_q
from keystead.api.scim.schemas import GROUP, USER
from keystead.api.scim.users import COLUMNS as USER_COLUMNS

ALL = Q(pk__isnull=False)
NONE = Q(pk__isnull=True)


def user_q(text: str) -> Q:
    return to_q(parse_filter(text), USER_COLUMNS, USER).q


# -- grammar ---------------------------------------------------------------------


def test_rfc_examples_parse():
    assert parse_filter('userName eq "bjensen"') == Compare(AttrPath("userName"), "eq", "bjensen")
    assert parse_filter('name.familyName co "O\'Malley"') == Compare(
        AttrPath("name", "familyName"), "co", "O'Malley")
    assert parse_filter("title pr") == Compare(AttrPath("title"), "pr")
    assert parse_filter('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"') == Compare(
        AttrPath("userName", None, "urn:ietf:params:scim:schemas:core:2.0:User"), "sw", "J")
    assert parse_filter('meta.lastModified gt "2011-05-13T04:42:34Z"').op == "gt"


def test_precedence_not_over_and_over_or():
    node = parse_filter('a eq "1" or b eq "2" and not (c eq "3")')
    assert node == Or(
        Compare(AttrPath("a"), "eq", "1"),
        And(Compare(AttrPath("b"), "eq", "2"), Not(Compare(AttrPath("c"), "eq", "3"))),
    )


def test_parentheses_group():
    node = parse_filter('(a eq "1" or b eq "2") and c pr')
    assert isinstance(node, And)
    assert isinstance(node.left, Or)


def test_value_path_and_literals():
    node = parse_filter('emails[type eq "work" and value co "@example.com"]')
    assert node == ValuePath(AttrPath("emails"), And(
        Compare(AttrPath("type"), "eq", "work"), Compare(AttrPath("value"), "co", "@example.com")))
    assert parse_filter("active eq TRUE").value is True
    assert parse_filter("x eq null").value is None
    assert parse_filter("id eq 12").value == 12


def test_operators_and_keywords_are_case_insensitive():
    assert parse_filter('userName EQ "a" AND active Eq false') == And(
        Compare(AttrPath("userName"), "eq", "a"), Compare(AttrPath("active"), "eq", False))


def test_strings_are_json_strings_with_escapes():
    assert parse_filter(r'displayName eq "say \"hi\" \u00e9"').value == 'say "hi" é'


def test_attribute_names_may_start_with_keywords():
    assert parse_filter('nullable eq "x"').path.attr == "nullable"
    assert parse_filter('notes pr').path.attr == "notes"


@pytest.mark.parametrize("text", [
    "", "userName", 'userName regex "x"', 'userName eq', 'userName eq bjensen',
    '(userName eq "a"', 'userName eq "a")', 'userName eq "a" userName eq "b"',
    'emails[type eq "work"', 'emails[x[y eq "1"]]', 'userName eq "unterminated',
    "not userName eq \"a\"", "a eq \"1\" and", "# eq 1",
])
def test_invalid_filters_are_refused_with_a_reason(text):
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert str(info.value)


def test_unsupported_operator_is_named():
    with pytest.raises(FilterSyntaxError, match="'regex' is not supported"):
        parse_filter('userName regex "x"')


def test_deep_nesting_is_bounded():
    with pytest.raises(FilterSyntaxError):
        parse_filter("(" * 200 + 'a eq "1"' + ")" * 200)


def test_patch_paths():
    assert parse_path("name.familyName") == PatchPath("name", "familyName")
    assert parse_path("active") == PatchPath("active")
    path = parse_path('emails[type eq "work"].value')
    assert path.attr == "emails" and path.sub == "value"
    assert path.filter == Compare(AttrPath("type"), "eq", "work")
    assert parse_path('members[value eq "12"]').filter == Compare(AttrPath("value"), "eq", "12")
    assert parse_path("urn:ietf:params:scim:schemas:core:2.0:User:userName").uri.endswith("User")
    for bad in ("", "a.b.c", 'members[value eq "1"] x', "members[value eq]"):
        with pytest.raises(FilterSyntaxError):
            parse_path(bad)


# -- translation to Q ------------------------------------------------------------


def test_user_name_is_case_insensitive_and_external_id_case_exact():
    assert user_q('userName eq "BJensen@Example.com"') == \
        Q(username__iexact="BJensen@Example.com")
    assert user_q('externalId eq "AbC"') == Q(external_id__exact="AbC")
    assert user_q('USERNAME sw "bj"') == Q(username__istartswith="bj")
    assert user_q('name.familyName ew "sen"') == Q(family_name__iendswith="sen")
    assert user_q('emails.value co "@example"') == Q(email__icontains="@example")
    assert user_q('displayName co "Barb"') == Q(scim_display_name__icontains="Barb")


def test_urn_prefixed_attribute():
    assert user_q('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"') == \
        Q(username__iexact="a")


def test_logic_maps_to_q_logic():
    assert user_q('userName eq "a" or not (active eq true)') == \
        Q(username__iexact="a") | ~Q(is_active=True)
    assert user_q('name.givenName eq "a" and name.familyName eq "b"') == \
        Q(given_name__iexact="a") & Q(family_name__iexact="b")


def test_ne_and_pr():
    assert user_q('userName ne "a"') == ~Q(username__iexact="a")
    assert user_q("externalId pr") == ~Q(external_id="") & Q(external_id__isnull=False)
    assert user_q("externalId eq null") == ~(~Q(external_id="") & Q(external_id__isnull=False))


def test_dates_compare_chronologically():
    moment = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)
    assert user_q('meta.lastModified gt "2011-05-13T04:42:34Z"') == \
        Q(GreaterThan(F("updated_at"), moment))
    assert user_q('meta.created le "2011-05-13T04:42:34"') == \
        Q(LessThanOrEqual(F("date_joined"), moment))


def test_string_ordering_ignores_case_where_the_attribute_does():
    assert user_q('name.familyName gt "M"') == Q(GreaterThan(Lower(F("family_name")), "m"))


def test_ids_and_constants():
    assert user_q('id eq "42"') == Q(pk=42)
    assert user_q('id eq "not-a-number"') == NONE
    assert user_q('id eq "99999999999999999999999"') == NONE
    assert user_q('emails.type eq "work"') == ALL
    assert user_q('emails.type eq "home"') == NONE
    assert user_q("emails.primary eq true") == ALL
    assert user_q('meta.resourceType eq "User"') == ALL


def test_value_path_filters_the_elements_attributes():
    assert user_q('emails[value eq "a@example.com"]') == Q(email__iexact="a@example.com")
    assert user_q('emails[type eq "work" and value co "x"]') == ALL & Q(email__icontains="x")


def test_multi_valued_joins_ask_for_distinct():
    translation = to_q(parse_filter('members.value eq "7"'), GROUP_COLUMNS, GROUP)
    assert translation.q == Q(members__pk=7)
    assert translation.needs_distinct
    assert not to_q(parse_filter('displayName eq "x"'), GROUP_COLUMNS, GROUP).needs_distinct
    assert to_q(parse_filter('members[value eq "7"]'), GROUP_COLUMNS, GROUP).q == \
        Q(members__pk=7)


@pytest.mark.parametrize(("text", "message"), [
    ('nickName eq "x"', "Cannot filter Users on 'nickName'"),
    ("active gt true", "boolean"),
    ('active co "t"', "boolean"),
    ('active eq "yes"', "true or false"),
    ('userName eq 12', "double quotes"),
    ('meta.lastModified gt "yesterday"', "date-time"),
    ('meta.lastModified gt "2025-13-45T00:00:00Z"', "date-time"),
    ('meta.lastModified co "2011"', "date-time"),
    ('id gt "3"', "identifier"),
    ('userName gt null', "null"),
    ('urn:example:other:attr eq "x"', "not supported"),
])
def test_untranslatable_filters_name_the_problem(text, message):
    with pytest.raises(FilterError, match=message):
        user_q(text)


def test_sorting():
    ordering = order_by("userName", "descending", USER_COLUMNS, USER)
    assert ordering[0] == Lower(F("username")).desc()
    assert ordering[1] == "-pk"
    assert order_by("meta.created", None, USER_COLUMNS, USER)[0] == F("date_joined").asc()
    with pytest.raises(FilterError, match="Cannot sort on 'groups'"):
        order_by("groups", None, USER_COLUMNS, USER)


def test_a_sub_attribute_after_a_value_filter_joins_the_filter():
    """Entra ID's emails[type eq "work"].value eq "x": emails[type eq "work" and value eq "x"]."""
    assert parse_filter('emails[type eq "work"].value eq "a@example.com"') == \
        parse_filter('emails[type eq "work" and value eq "a@example.com"]')
    assert user_q('emails[type eq "work"].value eq "a@example.com"') == \
        ALL & Q(email__iexact="a@example.com")
    with pytest.raises(FilterSyntaxError, match="operator must follow"):
        parse_filter('emails[type eq "work"].value')
