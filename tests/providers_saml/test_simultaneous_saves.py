"""Two administrators saving clashing SAML applications at the same moment: the one
whose save reaches the database second is refused by field, never an error page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event
from keystead.providers.saml import services
from keystead.providers.saml.models import EMAIL, SamlApplication
from racing import save_while_another_is_pending

from .helpers import lasso, make_key_pair

pytestmark = pytest.mark.django_db(transaction=True)

SLUG_TAKEN = "Another application has this short name: choose another."


def sp_metadata(base: Path, name: str) -> str:
    directory = base / name
    directory.mkdir()
    make_key_pair(directory, name)
    return lasso(directory, "metadata", f"https://{name}.sp.test/md",
                 f"https://{name}.sp.test/acs", f"https://{name}.sp.test/slo")["metadata"]


def register(name: str, slug: str, xml: str) -> SamlApplication:
    return services.register(services.ApplicationSettings(name=name, slug=slug, metadata_xml=xml),
                             actor=OPERATOR)


@pytest.mark.parametrize(("other_slug", "other_sp", "field", "words"), [
    ("wiki", "chat", "slug", SLUG_TAKEN),
    ("chat", "wiki", "metadata_xml", "Another application is registered with the entity ID "
                                     "https://wiki.sp.test/md: change that one instead."),
])
def test_a_clash_saved_between_check_and_write_is_refused_by_field(
        tmp_path, other_slug, other_sp, field, words):
    mine = sp_metadata(tmp_path, "wiki")
    theirs = mine if other_sp == "wiki" else sp_metadata(tmp_path, other_sp)
    result = save_while_another_is_pending(
        lambda: register("Theirs", other_slug, theirs),
        lambda: register("Mine", "wiki", mine))
    assert isinstance(result, services.ApplicationRefused), result
    assert result.problems == {field: words}
    assert list(SamlApplication.objects.values_list("name", flat=True)) == ["Theirs"]
    assert Event.objects.filter(action="saml.application.register").count() == 1


def test_a_change_meeting_a_simultaneous_register_is_refused(tmp_path):
    mine = register("Mine", "mine", sp_metadata(tmp_path, "wiki"))
    theirs = sp_metadata(tmp_path, "chat")
    wanted = services.ApplicationSettings(name="Mine", slug="wiki",
                                          metadata_xml=mine.metadata_xml)
    result = save_while_another_is_pending(
        lambda: register("Theirs", "wiki", theirs),
        lambda: services.change(SamlApplication.objects.get(pk=mine.pk), wanted,
                                actor=OPERATOR))
    assert isinstance(result, services.ApplicationRefused), result
    assert result.problems == {"slug": SLUG_TAKEN}
    assert SamlApplication.objects.get(pk=mine.pk).slug == "mine"


def test_the_console_says_why_instead_of_an_error_page(tmp_path, admin_user):
    mine, theirs = sp_metadata(tmp_path, "wiki"), sp_metadata(tmp_path, "chat")
    console = Client()
    console.force_login(admin_user)
    form = {"name": "Mine", "slug": "wiki", "enabled": "on", "metadata_url": "",
            "metadata_xml": mine, "sign_response": "on", "sign_assertion": "on",
            "encryption": "", "nameid_format": EMAIL, "relay_state": "",
            "attribute_email": "mail", "attribute_given_name": "",
            "attribute_family_name": "", "attribute_username": "uid",
            "attribute_groups": "memberOf"}
    add = "/admin/saml_idp/samlapplication/add/"
    answer = save_while_another_is_pending(lambda: register("Theirs", "wiki", theirs),
                                           lambda: console.post(add, form))
    assert answer.status_code == 302, answer
    assert answer["Location"] == add
    assert SLUG_TAKEN in console.get(add).content.decode()
    assert list(SamlApplication.objects.values_list("name", flat=True)) == ["Theirs"]
