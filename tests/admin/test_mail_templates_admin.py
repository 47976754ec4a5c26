"""Settings → Mail templates in the console: list, edit, preview, restore default;
superusers only; refusals name the field and store nothing."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event
from keystead.login.models import MailTemplate

pytestmark = pytest.mark.django_db

LIST = "/admin/mail-templates/"
RESET = "/admin/mail-templates/reset/"
BODY = "Dear {{ person_name }}, open {{ link }} <b>now</b>."
STOCK = ("Select ", "Django administration", "Site administration", "Welcome,",
         "View site", ">Log out<")


def _no_stock_words(page: str) -> None:
    for phrase in STOCK:
        assert phrase not in page, phrase


def test_the_list_shows_every_mail_and_whether_it_is_customised(root_client, admin_user):
    MailTemplate.objects.create(kind="reset", body=BODY, updated_by=admin_user)
    response = root_client.get(LIST)
    page = response.content.decode()
    assert response.status_code == 200
    for label in ("Password reset (asked by the person)", "Sign-in code", "Account locked",
                  "Password reset (sent by an administrator)", "Test mail"):
        assert label in page
    assert page.count(">customised<") == 1 and page.count(">built-in<") == 4
    assert f'href="{RESET}"' in page
    assert f'href="{LIST}"' in root_client.get("/admin/").content.decode()
    _no_stock_words(page)


def test_the_edit_page_lists_the_placeholders_and_shows_the_current_wording(root_client):
    page = root_client.get(RESET).content.decode()
    assert "{{ link }}" in page and "{{ minutes }}" in page and "{{ product_name }}" in page
    assert "Reset your {{ product_name }} password" in page
    assert "Someone, we hope you, asked to reset" in page
    assert "Restore default" not in page  # nothing to restore yet
    _no_stock_words(page)
    assert root_client.get("/admin/mail-templates/nothing/").status_code == 404


def test_the_preview_renders_sample_values_escaped_and_saves_nothing(root_client):
    response = root_client.post(RESET, {"subject": "Hi {{ person_name }}", "body": BODY,
                                        "_preview": "1"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Subject:</strong> Hi Ada" in page
    assert ("Dear Ada, open https://id.example.com/reset/SAMPLE-ONE-TIME-LINK "
            "&lt;b&gt;now&lt;/b&gt;.") in page
    assert not MailTemplate.objects.exists()
    assert not Event.objects.filter(action__startswith="mail_template").exists()


def test_saving_and_restoring_are_audited(root_client, admin_user):
    saved = root_client.post(RESET, {"subject": "", "body": BODY, "_save": "1"})
    assert saved.status_code == 302 and saved["Location"] == LIST
    assert MailTemplate.objects.get(kind="reset").body == BODY
    change = Event.objects.get(action="mail_template.change")
    assert change.detail == {"kind": "reset", "fields": ["body"], "customised": True}
    assert change.actor == admin_user
    assert "Restore default" in root_client.get(RESET).content.decode()
    restored = root_client.post(RESET, {"_restore": "1"})
    assert restored.status_code == 302 and not MailTemplate.objects.exists()
    assert Event.objects.get(action="mail_template.restore").detail == {"kind": "reset"}


def test_a_broken_template_and_a_missing_link_are_refused_by_name(root_client):
    broken = root_client.post(RESET, {"subject": "", "body": "Hi\n{% if %}\n{{ link }}",
                                      "_save": "1"})
    assert broken.status_code == 400
    assert "The body cannot be used on line 2" in broken.content.decode()
    missing = root_client.post(RESET, {"subject": "", "body": "Hi {{ person_name }}",
                                       "_save": "1"})
    assert missing.status_code == 400
    assert "The body must contain {{ link }}" in missing.content.decode()
    leaky = root_client.post(RESET, {"subject": "{% load static %}", "body": BODY,
                                     "_preview": "1"})
    assert leaky.status_code == 400 and "The subject cannot be used" in leaky.content.decode()
    assert not MailTemplate.objects.exists()
    assert not Event.objects.filter(action__startswith="mail_template").exists()


def test_only_superusers_may_open_or_change_mail_templates(client_as):
    client, _ = client_as("Helpdesk")
    assert client.get(LIST).status_code == 403
    assert client.get(RESET).status_code == 403
    assert client.post(RESET, {"subject": "", "body": BODY, "_save": "1"}).status_code == 403
    assert client.post(RESET, {"_restore": "1"}).status_code == 403
    assert not MailTemplate.objects.exists()
    denied = Event.objects.filter(action="mail_template.change", outcome="denied")
    assert [event.detail["kind"] for event in denied] == ["reset", "reset"]
    assert f'href="{LIST}"' not in client.get("/admin/").content.decode()
