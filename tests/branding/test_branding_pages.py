"""Branding on the sign-in page, a portal page and the console, changed through the
console's Settings → Branding page by a superuser only, every change audited."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from keystead.branding import current
from keystead.branding.models import BrandSetting
from keystead.branding.views import LOGO_POLICY
from keystead.directory.models import Event, User
from keystead.policy.models import LogonPolicy

pytestmark = pytest.mark.django_db

PAGE = "/admin/branding/"
PASSWORD = "Vellum-Orchid-Tapestry-42"
SVG_WITH_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
                   b'<script>alert(document.cookie)</script><circle r="20" cx="20" cy="20"/></svg>')
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def root_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def brand_form(**values) -> dict:
    return {"name": "Acme ID", "accent": "#7a1f5c",
            "message": "Use your Acme account.\nHelp: 1234", **values}


def test_a_superuser_sets_the_branding_and_it_is_audited(root_client, admin_user):
    logo = SimpleUploadedFile("logo.svg", SVG_WITH_SCRIPT, content_type="image/png")
    answer = root_client.post(PAGE, brand_form(logo=logo))
    assert answer.status_code == 302, answer.content.decode()
    brand = current()
    assert (brand.name, brand.accent, brand.has_logo) == ("Acme ID", "#7a1f5c", True)
    assert brand.message == "Use your Acme account.\nHelp: 1234"
    event = Event.objects.get(action="branding.change")
    assert event.actor == admin_user and event.outcome == "success"
    assert event.detail["changed"] == ["name", "accent", "message", "logo"]
    assert event.detail["logo"] == f"image/svg+xml, {len(SVG_WITH_SCRIPT)} bytes"
    assert "alert" not in str(event.detail)

    root_client.post(PAGE, brand_form(name="Acme Sign-in"))
    second = Event.objects.filter(action="branding.change").order_by("-pk").first()
    assert second.detail == {"changed": ["name"]}
    root_client.post(PAGE, brand_form(name="Acme Sign-in", remove_logo="on"))
    assert not current().has_logo
    assert Event.objects.filter(action="branding.change").order_by("-pk").first().detail == {
        "changed": ["logo"], "logo": "removed"}


@pytest.mark.parametrize(("values", "words"), [
    ({"accent": "#ffcc00"}, "Accent colour #ffcc00 is too light for white button text"),
    ({"accent": "red"}, "Accent colour &#x27;red&#x27; is not a colour in the form #rrggbb"),
    ({"message": "x" * 501}, "Sign-in message is 501 characters long; shorten it to 500 or fewer."),
    ({"name": "n" * 81}, "Product name is 81 characters long; shorten it to 80 or fewer."),
    ({"logo": SimpleUploadedFile("logo.gif", b"GIF89a" + b"\x00" * 40)},
     "Logo is not a PNG, JPEG or SVG image"),
    ({"logo": SimpleUploadedFile("big.png", PNG + b"\x00" * 210_000)}, "at most 200 KB"),
])
def test_bad_input_is_refused_with_the_fix_and_nothing_is_written(root_client, values, words):
    answer = root_client.post(PAGE, brand_form(**values))
    assert answer.status_code == 400
    assert words in answer.content.decode()
    assert current().name == "Keystead" and not BrandSetting.objects.exists()
    assert not Event.objects.filter(action="branding.change").exists()


def test_a_staff_member_who_is_not_a_superuser_cannot_change_branding():
    from django.contrib.auth.models import Group

    staff = User.objects.create_user("sec@example.com", "Sec", "Admin", password=None,
                                     is_staff=True)
    staff.groups.set(Group.objects.filter(name__in=["Security administrator",
                                                    "Directory administrator"]))
    client = Client()
    client.force_login(staff)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, brand_form()).status_code == 403
    assert current().name == "Keystead"
    assert 'href="/admin/branding/"' not in client.get("/admin/").content.decode()


def test_the_service_refuses_a_non_superuser_and_audits_the_refusal():
    from django.core.exceptions import PermissionDenied

    from keystead.branding.services import BrandChange, change_branding

    staff = User.objects.create_user("desk@example.com", "Help", "Desk", password=None,
                                     is_staff=True)
    with pytest.raises(PermissionDenied):
        change_branding(BrandChange("Evil", "#000000", ""), actor=staff)
    assert Event.objects.get(action="branding.change").outcome == "denied"
    assert not BrandSetting.objects.exists()


def test_the_sign_in_page_portal_and_console_show_the_brand(root_client):
    root_client.post(PAGE, brand_form(logo=SimpleUploadedFile("l.png", PNG)))
    brand = current()
    anonymous = Client()
    sign_in = anonymous.get("/login/").content.decode()
    assert "<title>Sign in · Acme ID</title>" in sign_in
    assert 'class="brand" href="/"><img src="' + brand.logo_url in sign_in
    assert '<p class="brand-message">Use your Acme account.<br>Help: 1234</p>' in sign_in
    assert f'<link rel="stylesheet" href="{brand.theme_url}">' in sign_in

    LogonPolicy.current()
    User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    person = Client()
    assert person.post("/login/", {"username": "ada@example.com",
                                   "password": PASSWORD}).status_code == 302
    home = person.get("/").content.decode()
    assert "Acme ID</a>" in home and brand.logo_url in home and brand.theme_url in home
    assert "Use your Acme account" not in home

    console = root_client.get("/admin/").content.decode()
    assert '<a href="/admin/">Acme ID</a>' in console
    assert "<title>Users | Acme ID</title>" in root_client.get(
        "/admin/directory/user/").content.decode()
    assert 'href="/admin/branding/"' in console

    theme = anonymous.get(brand.theme_url)
    assert theme["Content-Type"].startswith("text/css")
    assert theme.content.decode() == ":root { --accent: #7a1f5c; }\n"
    assert "max-age" in theme["Cache-Control"]
    logo = anonymous.get(brand.logo_url)
    assert logo["Content-Type"] == "image/png" and logo.content == PNG


def test_the_version_in_the_addresses_changes_with_every_change(root_client):
    before = current().theme_url
    root_client.post(PAGE, brand_form())
    assert current().theme_url != before


def test_an_svg_logo_is_served_so_it_cannot_run_script(root_client):
    root_client.post(PAGE, brand_form(logo=SimpleUploadedFile("l.svg", SVG_WITH_SCRIPT)))
    answer = Client().get("/branding/logo")
    assert answer.status_code == 200 and answer.content == SVG_WITH_SCRIPT
    assert answer["Content-Type"] == "image/svg+xml"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Content-Security-Policy"] == LOGO_POLICY
    assert "script-src" not in LOGO_POLICY and "default-src 'none'" in LOGO_POLICY
    assert "sandbox" in LOGO_POLICY


def test_without_a_logo_the_address_answers_404_and_the_default_colour_is_served():
    assert Client().get("/branding/logo").status_code == 404
    theme = Client().get("/branding/theme.css")
    assert theme.content.decode() == ":root { --accent: #1f5f8b; }\n"
    assert theme["Cache-Control"] == "no-cache"
    assert current().logo_url == ""
