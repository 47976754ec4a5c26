"""The console speaks Keystead's words: the header, the sign-out and the signed-out page."""

from __future__ import annotations

import pytest
from django.contrib import admin

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
