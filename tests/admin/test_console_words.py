"""The console speaks Keystead's words: the header, the sign-out and the signed-out page."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from keystead.directory.admin_site import KeysteadAdminSite
from keystead.directory.models import Event

pytestmark = pytest.mark.django_db

STOCK = ("Welcome,", "View site", "Log out", "Thanks for spending some quality time",
         "Log in again", "Django administration")


def test_every_registration_lands_on_keysteads_site():
    assert isinstance(admin.site, KeysteadAdminSite)


def test_the_header_names_the_person_and_offers_keystead_links(root_client, admin_user):
    page = root_client.get("/admin/").content.decode()
    assert f"Signed in as <strong>{admin_user.email}</strong>" in page
    assert 'href="/password/change/"' in page and ">Sign out</button>" in page
    for phrase in STOCK:
        assert phrase not in page, phrase


def test_signing_out_says_so_in_keysteads_words(root_client):
    page = root_client.post("/admin/logout/")
    text = page.content.decode()
    assert page.status_code == 200 and "You are signed out" in text
    assert 'href="/login/?next=/admin/"' in text
    for phrase in STOCK:
        assert phrase not in text, phrase
    assert Event.objects.filter(action="logout", detail__door="admin").exists()
    assert root_client.get("/admin/").status_code == 302


STOCK_PATTERNS = [
    re.compile(p) for p in (
        r"Select [\w ]+ to (change|view)", r"<h1>(Change|View) [\w ]+</h1>",
        r"Django (administration|site admin)", r"Site administration", r"Welcome,",
        r"View site", r">Log out<", r"quality time", r"Change history:",
    )
]


def _console_pages(user) -> list[str]:
    """Every list and add page of every model in the console that ``user`` may open,
    plus the first record of each kind."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{name}_changelist"))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"{name}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(reverse(f"{name}_change", args=[first.pk]))
    return pages


def test_no_console_page_speaks_djangos_stock_words(root_client, admin_user, make_user):
    make_user("ada@example.com", "Ada", "Lovelace")
    Event.objects.create(action="test.page", actor_label="system")
    for path in _console_pages(admin_user):
        response = root_client.get(path, follow=True)
        assert response.status_code == 200, (path, response.status_code)
        text = response.content.decode()
        for pattern in STOCK_PATTERNS:
            assert not pattern.search(text), (path, pattern.pattern)
