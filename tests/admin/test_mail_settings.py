"""Settings → Mail: what is configured (never the password) and a test mail sent to a
real SMTP server (aiosmtpd) that reports the server's own answer."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event

pytestmark = pytest.mark.django_db

MAIL = "/admin/mail/"


def test_the_page_shows_the_settings_but_never_the_password(root_client, smtp_server,
                                                            settings):
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_HOST_USER = "keystead"
    settings.EMAIL_HOST_PASSWORD = "Smtp-Secret-Canary-77"
    page = root_client.get(MAIL).content.decode()
    assert f"{smtp_server.host}:{smtp_server.port}" in page
    assert "keystead" in page and "Password</th><td>set" in page
    assert "Smtp-Secret-Canary-77" not in page
    assert 'href="/admin/mail/"' in root_client.get("/admin/").content.decode()


def test_a_test_mail_arrives_and_the_servers_reply_is_shown(root_client, smtp_server,
                                                            settings, admin_user):
    settings.EMAIL_CONFIGURED = True
    page = root_client.post(MAIL, {"recipient": "ops@example.com"}).content.decode()
    assert "Sent to ops@example.com: the mail server answered 250 Message accepted" in page
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ops@example.com" and message["Subject"] == "Keystead test mail"
    event = Event.objects.get(action="mail.test")
    assert event.outcome == "success" and event.actor == admin_user
    assert event.detail["answer"].startswith("the mail server answered 250")


def test_a_refusal_is_shown_in_the_servers_words(root_client, smtp_server, settings):
    settings.EMAIL_CONFIGURED = True
    smtp_server.refuse = "554 5.7.1 Relay access denied"
    page = root_client.post(MAIL, {"recipient": "ops@example.com"}).content.decode()
    assert "Not sent: the mail server answered 554 5.7.1 Relay access denied" in page
    assert Event.objects.get(action="mail.test").outcome == "failure"


def test_an_unreachable_server_and_a_bad_address_are_explained(root_client, smtp_server,
                                                               settings):
    settings.EMAIL_CONFIGURED = True
    bad = root_client.post(MAIL, {"recipient": "not an address"}).content.decode()
    assert "is not an email address" in bad
    settings.EMAIL_PORT = 1  # nothing listens there
    page = root_client.post(MAIL, {"recipient": "ops@example.com"}).content.decode()
    assert "Not sent: cannot reach the mail server" in page


def test_without_a_mail_server_the_page_says_where_mail_goes(root_client, settings):
    settings.EMAIL_CONFIGURED = False
    page = root_client.get(MAIL).content.decode()
    assert "mail is written to the server&#x27;s log" in page


def test_only_superusers_see_the_mail_settings(client_as):
    client, _ = client_as("Helpdesk")
    assert client.get(MAIL).status_code == 403
    assert 'href="/admin/mail/"' not in client.get("/admin/").content.decode()
