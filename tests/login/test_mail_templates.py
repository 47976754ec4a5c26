"""Mail templates: an administrator's wording reaches a real SMTP server (aiosmtpd), with
the real, working link; bad templates are refused by name and nothing is stored."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from keystead.directory.models import Event, User
from keystead.directory.rules import RuleViolation
from keystead.login import mail_templates
from keystead.login.models import MailTemplate

pytestmark = pytest.mark.django_db

OLD = "Vellum-Orchid-Tapestry-42"
NEW = "Quartz-Heron-Lantern-97"
LINK = re.compile(r"https?://\S+/reset/([A-Za-z0-9_-]+)")
RESET = mail_templates.KINDS["reset"]
CUSTOM_SUBJECT = "{{ product_name }}: a new password for {{ person_name }}"
CUSTOM_BODY = ("Dear {{ person_name }},\n\nFollow {{ link }} within {{ minutes }} minutes.\n"
               "-- The {{ product_name }} desk\n")


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=OLD)


def _body(message) -> str:
    return message.get_content()


def test_an_overridden_reset_mail_arrives_with_a_working_link(ada, admin_user, smtp_server,
                                                              deliver):
    mail_templates.save(RESET, CUSTOM_SUBJECT, CUSTOM_BODY, actor=admin_user)
    assert Client().post("/reset", {"email": ada.email}).status_code == 200
    deliver()
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Keystead: a new password for Ada"
    body = _body(message)
    assert body.startswith("Dear Ada,") and "within 30 minutes" in body
    assert "-- The Keystead desk" in body
    token = LINK.search(body).group(1)
    client = Client()
    assert client.get(f"/reset/{token}")["Location"] == "/reset/new-password"
    done = client.post("/reset/new-password", {"new_password": NEW, "confirm_password": NEW})
    assert done.status_code == 302
    ada.refresh_from_db()
    assert ada.check_password(NEW)


def test_restoring_the_default_brings_back_the_built_in_wording(ada, admin_user,
                                                               smtp_server, deliver):
    mail_templates.save(RESET, CUSTOM_SUBJECT, CUSTOM_BODY, actor=admin_user)
    assert mail_templates.restore_default(RESET, actor=admin_user)
    assert not MailTemplate.objects.exists()
    Client().post("/reset", {"email": ada.email})
    deliver()
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Reset your Keystead password"
    assert "Someone, we hope you, asked to reset the password" in _body(message)
    assert LINK.search(_body(message))
    assert Event.objects.filter(action="mail_template.restore",
                                detail__kind="reset").count() == 1


@pytest.mark.parametrize(("body", "message"), [
    ("Hello\n{% if %}\n{{ link }}", "The body cannot be used on line 2"),
    ("{% load static %}{{ link }}", "Invalid block tag on line 1: 'load'"),
    ("{% include 'admin/base.html' %}{{ link }}", "'include'"),
    ("{% extends 'admin/base.html' %}{{ link }}", "'extends'"),
    ("{% debug %}{{ link }}", "'debug'"),
    ("Your password hash: {{ user.password }} {{ link }}",
     "uses {{ user.password }}, which this mail does not have"),
    ("{{ link.__class__ }}", "may not begin with underscores"),
    ("Hello {{ person_name }}, no link here", "The body must contain {{ link }}"),
    ("{% if 0 %}{{ link }}{% endif %}", "The body must contain {{ link }}"),
])
def test_a_broken_or_leaky_template_is_refused_by_name_and_nothing_is_saved(
        admin_user, body, message):
    with pytest.raises(RuleViolation) as refused:
        mail_templates.save(RESET, "", body, actor=admin_user)
    assert message in str(refused.value)
    assert refused.value.problems[0].field == "body"
    assert not MailTemplate.objects.exists()
    assert not Event.objects.filter(action="mail_template.change").exists()


def test_the_code_mail_must_keep_its_code(admin_user):
    with pytest.raises(RuleViolation, match=r"must contain \{\{ code \}\}"):
        mail_templates.save(mail_templates.KINDS["email_code"], "", "Hi {{ person_name }}",
                            actor=admin_user)


def test_a_broken_subject_names_the_subject(admin_user):
    with pytest.raises(RuleViolation) as refused:
        mail_templates.save(RESET, "Reset {{ }}", CUSTOM_BODY, actor=admin_user)
    assert refused.value.problems[0].field == "subject"
    assert not MailTemplate.objects.exists()


def test_the_preview_uses_sample_values(admin_user):
    subject, body = mail_templates.check(RESET, CUSTOM_SUBJECT, CUSTOM_BODY)
    assert subject == "Keystead: a new password for Ada"
    assert "Follow https://id.example.com/reset/SAMPLE-ONE-TIME-LINK within 30" in body


def test_each_change_is_audited_with_the_parts_changed_never_the_text(admin_user):
    mail_templates.save(RESET, CUSTOM_SUBJECT, RESET.default_body, actor=admin_user)
    mail_templates.save(RESET, CUSTOM_SUBJECT, CUSTOM_BODY, actor=admin_user)
    assert not mail_templates.save(RESET, CUSTOM_SUBJECT, CUSTOM_BODY, actor=admin_user)
    first, second = Event.objects.filter(action="mail_template.change").order_by("pk")
    assert first.detail["fields"] == ["subject"] and second.detail["fields"] == ["body"]
    assert first.actor == admin_user and second.detail["kind"] == "reset"
    assert "Follow" not in str(second.detail) and "new password for" not in str(first.detail)
    row = MailTemplate.objects.get(kind="reset")
    assert row.subject == CUSTOM_SUBJECT and row.updated_by == admin_user


def test_only_a_superuser_may_change_a_template(db):
    staff = User.objects.create_user("help@example.com", "Help", "Desk", is_staff=True)
    with pytest.raises(PermissionDenied) as refused:
        mail_templates.save(RESET, CUSTOM_SUBJECT, CUSTOM_BODY, actor=staff)
    assert "Only a superuser may change mail templates" in str(refused.value)
    assert not MailTemplate.objects.exists()
    assert Event.objects.get(action="mail_template.change").outcome == "denied"


def test_every_default_renders_and_keeps_its_required_placeholders():
    for kind in mail_templates.KINDS.values():
        subject, body = mail_templates.check(kind, "", "")
        assert "Keystead" in subject
        assert ("Ada" in body) == kind.personal
        for name in kind.required:
            assert kind.samples[name] in body


def test_the_lock_notice_and_sign_in_code_use_their_templates(ada, admin_user, deliver):
    from keystead.login import mail

    mail_templates.save(mail_templates.KINDS["locked"], "Locked: {{ email }}",
                        "{% if locked_until %}until {{ locked_until }}{% else %}"
                        "ask IT{% endif %}", actor=admin_user)
    mail.send_lock_notice(ada)
    mail.send("email_code", ada, code="123456", minutes=10)
    locked, code = deliver()
    assert locked.subject == "Locked: ada@example.com" and locked.body == "ask IT"
    assert code.subject == "Your Keystead sign-in code" and "123456" in code.body


def test_the_test_mail_from_settings_uses_its_template(admin_user, smtp_server, settings):
    from keystead.login import mail_check

    settings.EMAIL_CONFIGURED = True
    mail_templates.save(mail_templates.KINDS["test"], "Hello from {{ product_name }}",
                        "It works: {{ base_url }}", actor=admin_user)
    assert mail_check.send_test_mail("ops@example.com", actor=admin_user).delivered
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Hello from Keystead"
    assert _body(message).strip() == f"It works: {settings.BASE_URL}"


def test_the_test_mail_has_no_person_to_name(admin_user):
    with pytest.raises(RuleViolation, match=re.escape("uses {{ person_name }}")):
        mail_templates.save(mail_templates.KINDS["test"], "", "Hi {{ person_name }}",
                            actor=admin_user)


def test_the_branded_name_reaches_the_mail(ada, deliver):
    from keystead.branding.models import BrandSetting

    BrandSetting.objects.create(pk=1, name="Acme ID")
    Client().post("/reset", {"email": ada.email})
    [message] = deliver()
    assert message.subject == "Reset your Acme ID password"
    assert "your Acme ID account ada@example.com" in message.body
