"""Every console and portal page, as a superuser, a help-desk administrator and an end
user, at a laptop's and a phone's width: each answers 200, asks no host but Keystead
for anything, speaks no stock Django admin phrase, and has no serious or critical
accessibility violation by axe-core."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client, RequestFactory
from django.urls import reverse

from keystead.directory.models import Event, Group, User
from keystead.provisioning.models import AccountState, ConnectorType, System, SystemAccount

from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}
STOCK = re.compile(
    r"Select [\w ]+ to (change|view)|<h1>(Change|View) (?!your)[\w ]+</h1>|Django administration"
    r"|Site administration|Welcome,|View site|>Log out<|quality time|Change history:")
PORTAL = ["/", "/account/profile", "/account/sessions", "/account/browsers",
          "/account/passkeys/", "/account/totp", "/account/backup-codes", "/password/change/"]
ANONYMOUS = ["/login/", "/reset", "/api/docs"]
#: Pages drawn by a third party's script, checked for everything but accessibility:
#: Swagger UI's own markup (nested buttons, pale text) is not Keystead's to change.
NOT_AXE_CHECKED = {"/api/docs"}


def console_pages(user: User) -> list[str]:
    """The console's index, each app's page, and each model's list, add page and first
    record that ``user`` may open."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = ["/admin/"]
    for app in admin.site.get_app_list(request):
        if app.get("app_url"):
            pages.append(app["app_url"])
        for model in app["models"]:
            pages.append(model["admin_url"])
            if model.get("add_url"):
                pages.append(model["add_url"])
    for model, model_admin in admin.site._registry.items():
        first = model._default_manager.order_by("pk").first()
        if first is not None and model_admin.has_view_permission(request, first):
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
            pages.append(reverse(name, args=[first.pk]))
    return list(dict.fromkeys(pages))


def signed_in_context(browser, live_server, user: User | None, width: str):
    """A browser context at ``width``, signed in as ``user`` (a real session cookie)."""
    view_width, view_height = WIDTHS[width]
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": view_width, "height": view_height})
    context.set_default_timeout(15_000)
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value,
                              "url": live_server.url}])
    return context


def check_all(browser, live_server, user: User | None, paths: list[str]) -> None:
    problems = visit_all(browser, live_server, user, paths)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def visit_all(browser, live_server, user: User | None, paths: list[str]) -> list[str]:
    source = axe_source()
    problems: list[str] = []
    for width in WIDTHS:
        context = signed_in_context(browser, live_server, user, width)
        page = context.new_page()
        foreign = ForeignRequests(page, live_server.url)
        for path in paths:
            response = page.goto(path)
            where = f"{path} at {width} width"
            if response is None or response.status != 200:
                problems.append(f"{where}: HTTP {response.status if response else 'none'}")
                continue
            stock = STOCK.search(page.content())
            if stock:
                problems.append(f"{where}: stock phrase {stock.group(0)!r}")
            if path not in NOT_AXE_CHECKED:
                problems += [f"{where}: {p}" for p in accessibility_problems(page, source)]
        problems += [f"request to another host: {url}" for url in foreign.seen]
        context.close()
    return problems


@pytest.fixture
def directory(admin_user):
    """One record of each kind the console lists, so every record page is visited."""
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="E1815",
                                   password="Vellum-Orchid-Tapestry-42")
    Group.objects.create(name="Engineering").members.add(ada)
    Event.objects.create(action="test.page", actor_label="system")
    return ada


def test_every_console_page_as_a_superuser(browser, live_server, admin_user, directory):
    pages = console_pages(admin_user)
    assert "/admin/mail-templates/" in pages
    check_all(browser, live_server, admin_user, [*pages, "/admin/mail-templates/reset/"])


def test_every_console_page_as_a_help_desk_administrator(browser, live_server, directory):
    helper = User.objects.create_user("help@example.com", "Help", "Desk", is_staff=True)
    helper.groups.set(AuthGroup.objects.filter(name="Helpdesk"))
    pages = console_pages(helper)
    assert "/admin/directory/user/" in pages
    check_all(browser, live_server, helper, pages)


def test_every_portal_page_as_an_end_user_and_anonymous(browser, live_server, directory):
    check_all(browser, live_server, directory, PORTAL)
    check_all(browser, live_server, None, ANONYMOUS)


def test_the_password_page_with_accounts_to_choose(browser, live_server, directory):
    """The change page's extra question (where the new password goes), shown only to a
    person with accounts on connected systems."""
    system = System.objects.create(name="legacy-app", connector=ConnectorType.LDAP,
                                   settings={"url": "ldaps://127.0.0.1:1", "base_dn": "dc=x",
                                             "bind_dn": "cn=x"})  # never contacted
    SystemAccount.objects.create(system=system, person=directory, name="E1815",
                                 state=AccountState.PRESENT)
    client = Client()
    client.force_login(directory)
    assert "Where the new password goes" in client.get("/password/change/").content.decode()
    check_all(browser, live_server, directory, ["/password/change/"])
