"""A person's console page: each section's data (``person_overview``, without HTML), the page
as a superuser and as the help desk, and every button (``admin_person_actions``).

Each action is checked by its stored result, its audit event, and by a help desk
that may not do it to an administrator (nothing changes, a message says why).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from keystead.devices.models import Device
from keystead.directory import person_overview
from keystead.directory.models import Event, Group, Outcome, User
from keystead.login import backup_codes
from keystead.login.models import (
    Passkey,
    RememberedBrowser,
    ResetToken,
    SignedInSession,
    TotpDevice,
)
from keystead.login.passwords import Result, sign_in_with_password
from keystead.providers.oidc.models import ClientSettings
from keystead.provisioning.models import (
    AccountState,
    ConnectorType,
    Kind,
    System,
    SystemAccount,
)
from keystead.provisioning.services import queue_operation
from keystead.secret import Secret

from .helpers import messages_of

pytestmark = pytest.mark.django_db
USERS = "/admin/directory/user/"
NEW_PASSWORD = "Lantern-Quarry-Mosaic-61"
AccessToken = get_access_token_model()
Application = get_application_model()
RefreshToken = get_refresh_token_model()


def page_of(user: User) -> str:
    return f"{USERS}{user.pk}/change/"


def act(user: User, key: str) -> str:
    return f"{USERS}{user.pk}/act/{key}/"


def remember(user: User, agent: str = "Firefox on Linux") -> RememberedBrowser:
    now = timezone.now()
    return RememberedBrowser.objects.create(
        user=user, token_hash=f"{user.pk}-{agent}".ljust(64, "0")[:64], created_at=now,
        expires_at=now + timedelta(days=30), days=30, user_agent=agent, ip="192.0.2.7")


def issue_tokens(app, user: User, name: str, scope: str = "openid email") -> None:
    access = AccessToken.objects.create(user=user, application=app, token=f"a-{name}",
                                        scope=scope,
                                        expires=timezone.now() + timedelta(minutes=10))
    RefreshToken.objects.create(user=user, application=app, token=f"r-{name}",
                                access_token=access)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ada(make_user) -> User:
    return make_user("ada@example.com", "Ada", "Lovelace")


@pytest.fixture
def everything(ada, admin_user):
    """Ada with something in every section."""
    ada.set_password("Original-Passphrase-Ninety-9")
    ada.save()
    staff = Group.objects.create(name="Engineering")
    staff.members.add(ada)
    ada.groups.add(AuthGroup.objects.get(name="Auditor"))
    TotpDevice.objects.create(user=ada, name="Phone", secret_encrypted="x",
                              confirmed_at=timezone.now())
    TotpDevice.objects.create(user=ada, name="Not confirmed", secret_encrypted="x")
    Passkey.objects.create(user=ada, name="YubiKey", credential_id="cred-1", public_key=b"k")
    backup_codes.generate(ada)
    remember(ada)
    browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    browser.force_login(ada)
    wiki = Application.objects.create(
        name="Wiki", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://wiki.example.com/cb", algorithm=Application.RS256_ALGORITHM)
    ClientSettings.objects.create(application=wiki, allowed_grants=["authorization-code"])
    issue_tokens(wiki, ada, "wiki-1", "openid email")
    issue_tokens(wiki, ada, "wiki-2", "openid profile")
    Event.objects.create(action="oidc.consent", actor=ada, actor_label=ada.email,
                         target_type="user", target_id=str(ada.pk), target_label=ada.email,
                         detail={"client_id": wiki.client_id})
    legacy = System.objects.create(name="legacy-app", connector=ConnectorType.LDAP,
                                   settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                             "bind_dn": "cn=x"})  # never contacted
    account = SystemAccount.objects.create(system=legacy, person=ada, name="ada-legacy",
                                           state=AccountState.PRESENT,
                                           has_persons_password=True)
    queue_operation(legacy, account.name, Kind.UPDATE, attributes={"sn": "Lovelace"},
                    account=account)
    laptop(ada, "ada-laptop", reported_user="lovelace", last_seen=timezone.now())
    laptop(admin_user, "root-desktop", reported_user="ada")  # reports ada; not hers
    return ada


def laptop(owner: User | None, name: str, **extra) -> Device:
    """An enrolled computer (no agent needed: only the page reads it)."""
    agent = Application.objects.create(
        name=f"Agent {name}", client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_PASSWORD, redirect_uris="",
        algorithm=Application.RS256_ALGORITHM)
    return Device.objects.create(name=name, owner=owner, application=agent,
                                 public_key=f"key {Device.objects.count()} of {name}", **extra)


# -- the data, without HTML -----------------------------------------------------------------


def test_groups_and_admin_roles_are_told_apart(everything):
    view = person_overview.overview(everything)
    assert [g.name for g in view.directory_groups] == ["Engineering"]
    assert [r.name for r in view.admin_roles] == ["Auditor"]
    assert view.directory_groups[0].url == ""  # links only when asked for
    linked = person_overview.overview(everything, link_groups=True, link_roles=True)
    assert linked.directory_groups[0].url.startswith("/admin/directory/group/")
    assert linked.admin_roles[0].url.startswith("/admin/directory/adminrole/")


def test_second_factors_list_confirmed_apps_passkeys_and_backup_codes(everything):
    factors = person_overview.second_factors(everything)
    assert [(f.kind, f.name) for f in factors] == [
        ("Authenticator app", "Phone"), ("Passkey", "YubiKey"), ("Backup codes", "10 unused")]
    assert backup_codes.use(everything, "not a code") is False


def test_remembered_browsers_sessions_and_applications(everything):
    view = person_overview.overview(everything)
    assert [(b.browser, b.ip) for b in view.browsers] == [("Firefox on Linux", "192.0.2.7")]
    assert len(view.sessions) == 1 and view.sessions[0].signed_in_at is not None
    (wiki,) = view.applications
    assert (wiki.name, wiki.tokens, wiki.scopes) == ("Wiki", 2, ("email", "openid", "profile"))
    assert wiki.consent_given is not None and wiki.usable_until is not None


def test_revoked_and_expired_things_are_not_listed(everything):
    RememberedBrowser.objects.update(revoked_at=timezone.now())
    RefreshToken.objects.update(revoked=timezone.now())
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    view = person_overview.overview(everything)
    assert view.browsers == [] and view.sessions == [] and view.applications == []


def test_recent_events_are_the_newest_twenty_by_or_about_the_person(ada, make_user):
    other = make_user("bob@example.com", "Bob", "Babbage")
    start = timezone.now() - timedelta(hours=1)
    for n in range(22):
        Event.objects.create(action=f"about.{n}", created_at=start + timedelta(minutes=n),
                             target_type="user", target_id=str(ada.pk))
    Event.objects.create(action="by.ada", actor=ada, target_type="user",
                         target_id=str(other.pk), created_at=start + timedelta(minutes=30))
    Event.objects.create(action="about.bob", target_type="user", target_id=str(other.pk))
    Event.objects.create(action="group.x", target_type="group", target_id=str(ada.pk))
    events = person_overview.recent_events(ada)
    assert len(events) == 20
    assert events[0].action == "by.ada" and events[0].about_them is False
    assert [e.action for e in events[1:4]] == ["about.21", "about.20", "about.19"]
    assert all(e.url.startswith("/admin/directory/event/") for e in events)
    assert person_overview.audit_log_url(ada) == (
        "/admin/directory/event/?person=ada%40example.com")


def test_accounts_on_connected_systems_with_their_open_operations(everything):
    (account,) = person_overview.overview(everything).accounts
    assert (account.system, account.name, account.state, account.holds_persons_password,
            account.open_operations) == ("legacy-app", "ada-legacy", "Present on the system",
                                         True, 1)
    assert account.system_url == account.operations_url == ""
    (linked,) = person_overview.overview(everything, link_systems=True,
                                         link_operations=True).accounts
    system = System.objects.get(name="legacy-app")
    assert linked.system_url == f"/admin/provisioning/system/{system.pk}/change/"
    assert linked.operations_url == (f"/admin/provisioning/operation/?q=ada-legacy"
                                     f"&system__id__exact={system.pk}")


def test_computers_are_those_assigned_to_the_person_not_those_reporting_them(everything):
    (computer,) = person_overview.overview(everything).computers
    assert (computer.name, computer.reported_user, computer.url) == (
        "ada-laptop", "lovelace", "")
    assert computer.last_seen is not None
    (linked,) = person_overview.overview(everything, link_computers=True).computers
    device = Device.objects.get(name="ada-laptop")
    assert linked.url == f"/admin/devices/device/{device.pk}/change/"


def test_computers_beyond_the_limit_are_counted(ada, monkeypatch):
    from keystead.devices import person_computers

    monkeypatch.setattr(person_computers, "COMPUTER_LIMIT", 2)
    for name in ("c", "a", "b"):
        laptop(ada, name)
    overview = person_overview.overview(ada)
    assert [c.name for c in overview.computers] == ["a", "b"]
    assert overview.computers_not_listed == 1


def test_the_computer_links_only_for_a_viewer_who_may_view_computers(everything, client_as,
                                                                      root_client):
    device = Device.objects.get(name="ada-laptop")
    link = f'href="/admin/devices/device/{device.pk}/change/"'
    assert link in root_client.get(page_of(everything)).content.decode()
    desk, _ = client_as("Helpdesk")
    text = desk.get(page_of(everything)).content.decode()
    assert "ada-laptop" in text and link not in text


def test_password_state_says_whether_and_since_when_never_how(ada):
    assert person_overview.password_state(ada).startswith("No password")
    ada.set_password("whatever-Passphrase-42")
    ada.password_changed_at = None
    assert person_overview.password_state(ada) == "Password set (the date was not recorded)."


# -- the page ---------------------------------------------------------------------------------


SECTIONS = ("Actions", "Directory groups and admin roles", "Second factors and passkeys",
            "Remembered browsers", "Active sessions", "Applications",
            "Accounts on connected systems", "Computers", "Recent audit events")


@pytest.mark.parametrize("viewer", ["superuser", "Helpdesk"])
def test_the_page_shows_every_section(viewer, everything, root_client, client_as):
    client = root_client if viewer == "superuser" else client_as("Helpdesk")[0]
    response = client.get(page_of(everything))
    assert response.status_code == 200
    text = response.content.decode()
    for heading in SECTIONS:
        assert f">{heading}</h2>" in text, heading
    for shown in ("Engineering", "Auditor", "Phone", "YubiKey", "10 unused", "Firefox on Linux",
                  "Wiki", "openid profile", "oidc.consent", "legacy-app", "ada-legacy",
                  "Present on the system", "ada-laptop", "lovelace",
                  "/admin/directory/event/?person=ada%40example.com"):
        assert shown in text, shown
    for secret in ("a-wiki-1", "r-wiki-1", everything.password,
                   *Session.objects.values_list("session_key", flat=True)):
        assert secret not in text
    for stock in ("Change user", "Django administration", "Site administration", "View site"):
        assert stock not in text


def test_the_events_are_shown_only_to_a_viewer_who_may_read_the_audit_log(
        everything, make_user):
    viewer = make_user("viewer@example.com", staff=True)
    role = AuthGroup.objects.create(name="People viewer")
    role.permissions.set(Permission.objects.filter(codename="view_user",
                                                   content_type__app_label="directory"))
    viewer.groups.add(role)
    client = Client()
    client.force_login(viewer)
    assert client.get("/admin/directory/event/").status_code == 403
    response = client.get(page_of(everything))
    assert response.status_code == 200
    text = response.content.decode()
    assert ">Active sessions</h2>" in text  # the rest of the picture is there
    assert "Recent audit events" not in text and "oidc.consent" not in text
    assert response.context["person"].events == []


def test_empty_sections_say_so(ada, root_client):
    text = root_client.get(page_of(ada)).content.decode()
    for empty in ("Not a member of any directory group.", "No admin role.",
                  "No authenticator app, passkey or backup codes.", "No remembered browser",
                  "Not signed in anywhere right now.",
                  "No application holds a live token for this person.",
                  "No account on a connected system.",
                  "No computer is assigned to this person."):
        assert empty in text, empty


def test_buttons_follow_what_the_viewer_may_do(ada, admin_user, root_client, client_as):
    User.objects.filter(pk=ada.pk).update(locked_at=timezone.now())
    superuser = root_client.get(page_of(ada)).context
    assert [b.key for b in superuser["person_buttons"]] == [
        "reset-password", "send-reset-mail", "unlock", "reset-factors", "sign-out", "disable"]
    desk, _ = client_as("Helpdesk")
    assert [b.key for b in desk.get(page_of(ada)).context["person_buttons"]] == [
        "reset-password", "send-reset-mail", "unlock", "reset-factors", "sign-out", "disable"]
    refused = desk.get(page_of(admin_user))
    assert refused.status_code == 200
    assert refused.context["person_buttons"] == []
    assert "only a superuser may act on such an account" in refused.content.decode()
    auditor, _ = client_as("Auditor", email="auditor@example.com")
    response = auditor.get(page_of(ada))
    assert response.status_code == 200 and response.context["person_buttons"] == []
    # Disabled: enable instead of disable, and no reset mail (its link would not work).
    User.objects.filter(pk=ada.pk).update(is_active=False, locked_at=None)
    keys = [b.key for b in root_client.get(page_of(ada)).context["person_buttons"]]
    assert "enable" in keys and "disable" not in keys and "send-reset-mail" not in keys


# -- reset password -------------------------------------------------------------------------


def test_reset_password_asks_for_a_change_at_next_sign_in_by_default(ada, root_client):
    url = f"{USERS}{ada.pk}/password/"
    form = root_client.get(url).context["form"]
    assert form.fields["must_change"].initial is True
    assert re.search(r'<input type="checkbox" name="must_change"[^>]* checked',
                     root_client.get(url).content.decode())
    response = root_client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                      "must_change": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == page_of(ada)
    assert ("Password changed. They must choose a new one at their next sign-in."
            in messages_of(response))
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD) and ada.must_change_password
    signing_in = sign_in_with_password(ada.email, Secret(NEW_PASSWORD))
    assert signing_in.result is Result.MUST_CHANGE
    assert "Your administrator requires you to choose a new password." in signing_in.reasons
    event = Event.objects.get(action="user.password.set", target_id=str(ada.pk))
    assert event.detail == {"door": "admin", "must_change": True}
    assert NEW_PASSWORD not in str(event.detail)


def test_unticking_must_change_sets_a_lasting_password(ada, root_client):
    User.objects.filter(pk=ada.pk).update(must_change_password=True)
    root_client.post(f"{USERS}{ada.pk}/password/",
                     {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD) and not ada.must_change_password
    assert Event.objects.get(action="user.password.set").detail == {"door": "admin"}


def test_a_password_the_policy_refuses_is_named_on_the_form(ada, root_client):
    response = root_client.post(f"{USERS}{ada.pk}/password/",
                                {"password1": "short", "password2": "short",
                                 "must_change": "on"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "password2" in errors and "at least" in str(errors), errors
    assert "at least" in response.content.decode()
    ada.refresh_from_db()
    assert not ada.has_usable_password()


# -- send reset mail ------------------------------------------------------------------------


def test_send_reset_mail_mails_a_working_link(ada, root_client, admin_user, deliver,
                                              smtp_server, settings):
    settings.BASE_URL = "https://id.example.com"
    response = root_client.post(act(ada, "send-reset-mail"), follow=True)
    assert ("A password-reset link is on its way to ada@example.com. It works once, for 30 "
            "minutes; earlier links no longer work." in messages_of(response))
    deliver()
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com"
    body = smtp_server.text_of(message)
    assert "An administrator of Keystead sent you this link" in body
    link = next(line for line in body.splitlines() if line.startswith("https://id.example.com"))
    token = link.rsplit("/", 1)[-1]
    from keystead.login import reset

    row = reset.open_link(token)
    assert row is not None and row.user_id == ada.pk
    reset.complete_reset(row.pk, Secret(NEW_PASSWORD))
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD)
    event = Event.objects.get(action="user.password.reset.sent_by_admin")
    assert event.actor_id == admin_user.pk and event.target_id == str(ada.pk)
    assert event.detail == {"door": "admin", "link_id": row.pk}
    assert token not in str(event.detail)


def test_a_new_reset_mail_replaces_the_earlier_link(ada, root_client):
    root_client.post(act(ada, "send-reset-mail"))
    first = ResetToken.objects.get(user=ada)
    root_client.post(act(ada, "send-reset-mail"))
    assert list(ResetToken.objects.filter(user=ada)) != [first]
    assert ResetToken.objects.filter(user=ada).count() == 1


def test_no_reset_mail_to_a_disabled_account(ada, root_client, deliver):
    User.objects.filter(pk=ada.pk).update(is_active=False)
    response = root_client.post(act(ada, "send-reset-mail"), follow=True)
    assert response.status_code == 200
    assert ("ada@example.com is disabled, so a reset link would not work. Enable the account "
            "first." in messages_of(response))
    assert deliver() == [] and not ResetToken.objects.exists()
    assert not Event.objects.filter(action="user.password.reset.sent_by_admin").exists()


# -- unlock -----------------------------------------------------------------------------------


def test_unlock_clears_the_lock(ada, root_client):
    User.objects.filter(pk=ada.pk).update(locked_at=timezone.now(), failed_logins=7)
    response = root_client.post(act(ada, "unlock"), follow=True)
    assert "ada@example.com is now unlocked." in messages_of(response)
    ada.refresh_from_db()
    assert ada.locked_at is None and ada.failed_logins == 0
    event = Event.objects.get(action="user.unlock")
    assert event.detail == {"door": "admin", "was_locked": True}


# -- reset second factors ---------------------------------------------------------------------


def test_reset_factors_asks_first_then_removes_them(everything, root_client):
    ada = everything
    asked = root_client.post(act(ada, "reset-factors"))
    assert asked.status_code == 200
    assert ("Are you sure you want to reset the second factors of ada@example.com?"
            in asked.content.decode())
    assert root_client.get(act(ada, "reset-factors")).status_code == 200
    assert TotpDevice.objects.filter(user=ada).exists()  # asking changed nothing
    assert not Event.objects.filter(action="user.second_factors.reset").exists()

    done = root_client.post(act(ada, "reset-factors"), {"confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == page_of(ada)
    assert any(m.startswith("Second factors reset for ada@example.com") for m in
               messages_of(done))
    assert not TotpDevice.objects.filter(user=ada).exists()
    assert not Passkey.objects.filter(user=ada).exists()
    assert backup_codes.remaining(ada) == 0
    assert not RememberedBrowser.objects.filter(user=ada, revoked_at__isnull=True).exists()
    event = Event.objects.get(action="user.second_factors.reset")
    assert event.detail["door"] == "admin" and event.detail["remembered_browsers"] == 1


# -- sign out everywhere ----------------------------------------------------------------------


def test_sign_out_everywhere_ends_sessions_tokens_and_remembered_browsers(everything,
                                                                          root_client):
    ada = everything
    assert root_client.post(act(ada, "sign-out")).status_code == 200  # "Are you sure?"
    assert SignedInSession.objects.filter(user=ada).exists()
    done = root_client.post(act(ada, "sign-out"), {"confirmed": "yes"}, follow=True)
    assert ("ada@example.com is signed out everywhere: 1 session ended, remembered browsers "
            "and application tokens revoked." in messages_of(done))
    assert not SignedInSession.objects.filter(user=ada).exists()
    assert not RefreshToken.objects.filter(user=ada, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(user=ada).exists()
    assert not RememberedBrowser.objects.filter(user=ada, revoked_at__isnull=True).exists()
    assert ada.is_active
    event = Event.objects.get(action="user.sign_out_everywhere")
    assert event.detail == {"door": "admin", "sessions": 1}
    view = person_overview.overview(ada)
    assert view.sessions == [] and view.applications == [] and view.browsers == []


# -- disable and enable -----------------------------------------------------------------------


def test_disable_asks_first_then_disables_and_enable_brings_the_account_back(everything,
                                                                             root_client):
    ada = everything
    root_client.post(act(ada, "disable"))
    assert User.objects.get(pk=ada.pk).is_active  # only asked
    done = root_client.post(act(ada, "disable"), {"confirmed": "yes"}, follow=True)
    assert any(m.startswith("ada@example.com is disabled") for m in messages_of(done))
    ada.refresh_from_db()
    assert not ada.is_active
    assert not SignedInSession.objects.filter(user=ada).exists()
    assert not RefreshToken.objects.filter(user=ada, revoked__isnull=True).exists()
    assert Event.objects.get(action="user.deactivate").detail == {"door": "admin"}

    again = root_client.post(act(ada, "enable"), follow=True)
    assert "ada@example.com is enabled and can sign in again." in messages_of(again)
    ada.refresh_from_db()
    assert ada.is_active
    assert Event.objects.filter(action="user.activate", target_id=str(ada.pk)).count() == 1


def test_nobody_disables_their_own_account(admin_user, root_client):
    response = root_client.post(act(admin_user, "disable"), {"confirmed": "yes"}, follow=True)
    assert any("Nobody may disable or delete their own account" in m
               for m in messages_of(response))
    assert User.objects.get(pk=admin_user.pk).is_active


# -- the help desk on an administrator's page ------------------------------------------------


@pytest.mark.parametrize("key", ["send-reset-mail", "unlock", "reset-factors", "sign-out",
                                 "disable"])
def test_the_help_desk_cannot_act_on_an_administrator(key, client_as, admin_user, deliver):
    desk, desk_user = client_as("Helpdesk")
    User.objects.filter(pk=admin_user.pk).update(locked_at=timezone.now(), failed_logins=5)
    TotpDevice.objects.create(user=admin_user, name="Phone", secret_encrypted="x",
                              confirmed_at=timezone.now())
    admin_browser = signed_in(admin_user)
    before_id = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = desk.post(act(admin_user, key), {"confirmed": "yes"}, follow=True)
    assert response.status_code == 200
    assert ("root@example.com has console access: only a superuser may act on such an account."
            in messages_of(response))
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.locked_at is not None
    assert TotpDevice.objects.filter(user=admin_user).exists()
    assert admin_browser.get("/admin/").status_code == 200  # still signed in
    assert deliver() == [] and not ResetToken.objects.exists()
    refused = Event.objects.filter(pk__gt=before_id).get()  # the refusal, nothing else
    assert (refused.action, refused.outcome) == ("console.refused", Outcome.DENIED)
    assert refused.actor_label == desk_user.email
    assert refused.detail["path"] == act(admin_user, key)
    assert "only a superuser may act" in refused.detail["reason"]
    assert desk.get(f"{USERS}{admin_user.pk}/password/").status_code == 403
    assert Event.objects.filter(pk__gt=before_id, action="console.refused").count() == 2


def test_a_viewer_without_the_permission_is_refused_with_a_message(ada, client_as):
    auditor, _ = client_as("Auditor")
    response = auditor.post(act(ada, "sign-out"), {"confirmed": "yes"}, follow=True)
    assert any("may not sign people out everywhere" in m for m in messages_of(response))
    assert not Event.objects.filter(action="user.sign_out_everywhere").exists()
    assert "may not sign people out everywhere" in Event.objects.get(
        action="console.refused", outcome=Outcome.DENIED).detail["reason"]


def test_unknown_actions_and_people_are_not_found(ada, root_client):
    assert root_client.post(act(ada, "delete-everything")).status_code == 404
    assert root_client.post(f"{USERS}999999/act/unlock/").status_code in (302, 404)


def test_a_person_outside_the_console_cannot_reach_the_buttons(ada):
    client = signed_in(ada)
    response = client.post(act(ada, "sign-out"), {"confirmed": "yes"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Event.objects.filter(action="user.sign_out_everywhere").exists()


def test_one_who_may_unlock_but_not_read_people_unlocks_and_lands_on_the_front_page(
        ada, client_as):
    """``authorization`` alone decides: unlocking needs the unlock permission, not the page."""
    from django.contrib.auth.models import Permission

    role = AuthGroup.objects.create(name="Unlocker")
    role.permissions.set(Permission.objects.filter(codename="unlock_user"))
    unlocker, _ = client_as("Unlocker")
    User.objects.filter(pk=ada.pk).update(locked_at=timezone.now())
    assert unlocker.get(page_of(ada)).status_code == 403
    response = unlocker.post(act(ada, "unlock"))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    ada.refresh_from_db()
    assert ada.locked_at is None
    assert unlocker.post(act(ada, "disable"), {"confirmed": "yes"}).status_code == 302
    assert User.objects.get(pk=ada.pk).is_active
