"""Two administrators saving clashing SAML sources at the same moment: the one whose
save reaches the database second is refused by field, never an error page."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event
from keystead.sources.saml import changes
from keystead.sources.saml.models import Binding, SamlSource, UserKey
from racing import save_while_another_is_pending

from .conftest import BASE_URL, IDP_ENTITY_ID, IDP_SSO_URL
from .test_console import form  # the console's form, as a browser posts it

pytestmark = pytest.mark.django_db(transaction=True)

ENABLED = "Another SAML identity provider is enabled; disable it first."


def values(cert: str, name: str, *, enabled: bool = True) -> dict:
    return {"name": name, "enabled": enabled, "metadata_url": "", "metadata_xml": "",
            "metadata_refresh_hours": 24, "idp_entity_id": IDP_ENTITY_ID,
            "sso_url": IDP_SSO_URL, "sso_binding": Binding.REDIRECT,
            "certificate": cert, "user_key": UserKey.EMAIL,
            "identifier_attribute": "uid", "email_attribute": "email",
            "given_name_attribute": "givenName", "family_name_attribute": "sn",
            "create_people": False}


@pytest.mark.parametrize(("theirs", "mine", "field", "words"), [
    (("Theirs", True), ("Mine", True), "enabled", ENABLED),
    (("Same", False), ("Same", False), "name",
     "A SAML identity provider named 'Same' already exists."),
])
def test_a_clash_saved_between_check_and_write_is_refused_by_field(
        admin_user, settings, idp_keys, theirs, mine, field, words):
    settings.BASE_URL = BASE_URL
    result = save_while_another_is_pending(
        lambda: changes.save_source(None, values(idp_keys.cert, theirs[0], enabled=theirs[1]),
                                    actor=admin_user),
        lambda: changes.save_source(None, values(idp_keys.cert, mine[0], enabled=mine[1]),
                                    actor=admin_user))
    assert isinstance(result, changes.SourceRefused), result
    assert result.problems == {field: words}
    assert SamlSource.objects.count() == 1
    assert Event.objects.filter(action="saml_source.change").count() == 1


def test_enabling_a_second_source_at_the_same_moment_is_refused(admin_user, settings,
                                                                 idp_keys):
    settings.BASE_URL = BASE_URL
    mine, _ = changes.save_source(None, values(idp_keys.cert, "Mine", enabled=False),
                                  actor=admin_user)
    result = save_while_another_is_pending(
        lambda: changes.save_source(None, values(idp_keys.cert, "Theirs"), actor=admin_user),
        lambda: changes.save_source(SamlSource.objects.get(pk=mine.pk),
                                    values(idp_keys.cert, "Mine"), actor=admin_user))
    assert isinstance(result, changes.SourceRefused), result
    assert result.problems == {"enabled": ENABLED}
    assert not SamlSource.objects.get(pk=mine.pk).enabled


def test_the_console_says_why_instead_of_an_error_page(client, admin_user, settings, idp_keys):
    settings.BASE_URL = BASE_URL
    client.force_login(admin_user)
    add = "/admin/saml_source/samlsource/add/"
    answer = save_while_another_is_pending(
        lambda: changes.save_source(None, values(idp_keys.cert, "Theirs"), actor=admin_user),
        lambda: client.post(add, form(idp_keys.cert, name="Mine")))
    assert answer.status_code == 302, answer
    assert answer["Location"] == add
    assert ENABLED in client.get(add).content.decode()
    assert list(SamlSource.objects.values_list("name", flat=True)) == ["Theirs"]
