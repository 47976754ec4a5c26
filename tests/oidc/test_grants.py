"""Several grants per application: the rule, the token and authorization endpoints, the doors."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.models import Event
from keystead.providers.oidc.grants import grant_allowed, main_grant
from keystead.providers.oidc.models import ClientSettings

from .conftest import PASSWORD
from .helpers import (
    REDIRECT,
    authorize,
    code_tokens,
    make_app,
    pkce_pair,
    token_request,
)

Application = get_application_model()
CODE, CC, PW = "authorization-code", "client-credentials", "password"


@pytest.mark.parametrize(("grant_type", "allowed", "refresh_on", "expected"), [
    ("authorization_code", [CODE], True, True),
    ("authorization_code", [CC], True, False),
    ("client_credentials", [CODE, CC], True, True),
    ("client_credentials", [CODE], True, False),
    ("password", [CODE, CC], True, False),  # only when listed
    ("password", [PW], True, True),
    ("refresh_token", [CODE], True, True),
    ("refresh_token", [PW], True, True),
    ("refresh_token", [CC], True, False),  # client credentials never refresh
    ("refresh_token", [CODE, PW], False, False),  # refresh tokens off for the client
    ("urn:ietf:params:oauth:grant-type:device_code", [CODE, CC, PW], True, False),
    ("implicit", [CODE], True, False),
])
def test_the_rule(grant_type, allowed, refresh_on, expected):
    assert grant_allowed(grant_type, registered_grant=CODE, allowed_grants=allowed,
                         issue_refresh_tokens=refresh_on) is expected


def test_without_a_list_the_toolkit_grant_type_is_the_allowed_set():
    assert grant_allowed("client_credentials", registered_grant=CC, allowed_grants=[],
                         issue_refresh_tokens=True)
    assert not grant_allowed("authorization_code", registered_grant=CC, allowed_grants=[],
                             issue_refresh_tokens=True)
    assert grant_allowed("refresh_token", registered_grant=PW, allowed_grants=[],
                         issue_refresh_tokens=True)


def test_main_grant_prefers_the_code_grant():
    assert main_grant([CC, PW, CODE]) == CODE
    assert main_grant([CC, PW]) == PW
    with pytest.raises(ValueError):
        main_grant([])


def _allow(app, *names: str, **settings) -> None:
    ClientSettings.objects.update_or_create(application=app,
                                            defaults={"allowed_grants": list(names), **settings})


def test_one_application_with_code_and_client_credentials(browser_client):
    app, secret = make_app()
    _allow(app, CODE, CC)
    tokens = code_tokens(browser_client, app, secret)
    assert "refresh_token" in tokens
    machine = token_request(app, secret, grant_type="client_credentials")
    assert machine.status_code == 200, machine.content
    assert "refresh_token" not in machine.json()
    refreshed = token_request(app, secret, grant_type="refresh_token",
                       refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content


def test_a_grant_not_listed_is_unauthorized_client_and_audited(person):
    app, secret = make_app()
    _allow(app, CODE)
    machine = token_request(app, secret, grant_type="client_credentials")
    assert machine.status_code == 400  # RFC 6749 §5.2
    assert machine.json()["error"] == "unauthorized_client"
    password = token_request(app, secret, grant_type="password", username=person.email,
                      password=PASSWORD, scope="openid")
    assert password.json()["error"] == "unauthorized_client"
    person.refresh_from_db()
    assert person.failed_logins == 0  # refused before any password was checked
    refusals = Event.objects.filter(action="oidc.token_refused").order_by("pk")
    assert [(e.detail["grant_type"], e.detail["error"]) for e in refusals] == [
        ("client_credentials", "unauthorized_client"), ("password", "unauthorized_client")]
    assert PASSWORD not in str([e.detail for e in refusals])


def test_password_grant_only_when_listed(person):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    _allow(app, CC, PW)
    response = token_request(app, secret, grant_type="password", username=person.email,
                      password=PASSWORD, scope="openid")
    assert response.status_code == 200, response.content
    assert token_request(app, secret, grant_type="client_credentials").status_code == 200


def test_code_flow_for_an_application_whose_toolkit_grant_is_client_credentials(browser_client):
    """The toolkit's single grant type says client credentials; the list also has the code."""
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    _allow(app, CC, CODE)
    assert "access_token" in code_tokens(browser_client, app, secret)


def test_authorization_code_not_listed_is_refused_at_the_authorization_endpoint(browser_client):
    app, _ = make_app()
    _allow(app, CC)
    _, challenge = pkce_pair()
    answer = authorize(browser_client, app, challenge=challenge)
    assert answer["error"] == "unauthorized_client"
    event = Event.objects.get(action="oidc.authorize_refused")
    assert event.detail["error"] == "unauthorized_client"


def test_refresh_follows_the_code_grant_and_the_refresh_switch(browser_client):
    app, secret = make_app()
    _allow(app, CODE, CC)
    first = code_tokens(browser_client, app, secret)["refresh_token"]
    _allow(app, CC)  # the code grant is taken away: its refresh tokens stop working
    refused = token_request(app, secret, grant_type="refresh_token", refresh_token=first)
    assert refused.json()["error"] == "unauthorized_client"

    _allow(app, CODE)
    second = code_tokens(browser_client, app, secret)["refresh_token"]
    _allow(app, CODE, issue_refresh_tokens=False)
    off = token_request(app, secret, grant_type="refresh_token", refresh_token=second)
    assert off.json()["error"] == "unauthorized_client"


# --- the doors: REST API and admin console ------------------------------------------

URL = "/api/v1/clients"
WEB = {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/oidc/callback"]}


@pytest.fixture
def clients_api(api_with):
    return api_with("clients:write")


def test_api_registers_several_grants_and_both_work(clients_api, browser_client):
    response = clients_api.post(URL, {**WEB, "grant_types": [CC, CODE],
                                      "redirect_uris": [REDIRECT], "skip_consent": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["grant_types"] == [CODE, CC] and body["grant_type"] == CODE
    app = Application.objects.get(client_id=body["client_id"])
    machine = token_request(app, body["client_secret"], grant_type="client_credentials")
    assert machine.status_code == 200
    assert "id_token" in code_tokens(browser_client, app, body["client_secret"])
    event = Event.objects.get(action="oidc.client_registered")
    assert event.detail["grant_types"] == [CODE, CC]


def test_api_keeps_the_single_grant_type_field(clients_api):
    body = clients_api.post(URL, {"name": "Agent", "grant_type": PW}).json()
    assert body["grant_types"] == [PW] and body["grant_type"] == PW
    default = clients_api.post(URL, WEB).json()
    assert default["grant_types"] == [CODE]
    conflict = clients_api.post(URL, {**WEB, "grant_type": PW, "grant_types": [CODE]})
    assert conflict.status_code == 400
    assert conflict.json()["errors"][0]["field"] == "grant_type"


def test_api_lists_the_toolkit_grant_of_an_application_without_a_list(clients_api):
    app, _ = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    body = clients_api.get(f"{URL}/{app.client_id}").json()
    assert body["grant_types"] == [CC]


@pytest.mark.parametrize(("payload", "field", "words"), [
    ({"client_type": "public", "grant_types": [CODE, CC],
      "redirect_uris": ["http://127.0.0.1:8765/cb"]}, "grant_types", "public client"),
    ({"grant_types": []}, "grant_types", "at least one"),
    ({"grant_types": [CC, CODE], "redirect_uris": []}, "redirect_uris", "redirect URI"),
])
def test_api_grant_rules_name_the_field(clients_api, payload, field, words):
    response = clients_api.post(URL, {**WEB, **payload})
    assert response.status_code == 400, response.content
    problem = response.json()["errors"][0]
    assert problem["field"] == field and words in problem["message"]
    assert not Application.objects.exists()


def test_api_patch_changes_grants_and_audits_before_and_after(clients_api, person):
    body = clients_api.post(URL, WEB).json()
    app = Application.objects.get(client_id=body["client_id"])
    secret = body["client_secret"]
    data = {"grant_type": "password", "username": person.email, "password": PASSWORD,
            "scope": "openid"}
    assert token_request(app, secret, **data).json()["error"] == "unauthorized_client"
    changed = clients_api.patch(f"{URL}/{app.client_id}", {"grant_types": [CODE, PW]})
    assert changed.status_code == 200, changed.content
    assert changed.json()["grant_types"] == [CODE, PW]
    assert token_request(app, secret, **data).status_code == 200
    event = Event.objects.get(action="oidc.client_changed")
    assert event.detail["grant_types"] == {"before": [CODE], "after": [CODE, PW]}
    public = clients_api.post(URL, {**WEB, "client_type": "public"}).json()
    refused = clients_api.patch(f"{URL}/{public['client_id']}", {"grant_types": [CODE, PW]})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "grant_types"


def _console_form(console) -> dict:
    form = console.get("/admin/oauth2_provider/application/add/")
    assert b'name="allowed_grants"' in form.content
    assert b'name="authorization_grant_type"' not in form.content
    return {"name": "Wiki", "client_type": "confidential",
            "redirect_uris": "https://wiki.example.com/callback",
            "post_logout_redirect_uris": "", "issue_refresh_tokens": "on",
            "rotate_refresh_tokens": "on"}


def test_console_registers_and_changes_allowed_grants(admin_user):
    console = Client()
    console.force_login(admin_user)
    data = _console_form(console)
    response = console.post("/admin/oauth2_provider/application/add/",
                            {**data, "allowed_grants": [CC, CODE]})
    assert response.status_code == 200, response.content[:3000]  # the secret, shown once
    secret = re.search(rb'<code id="client-secret"[^>]*>([^<]+)</code>', response.content)
    app = Application.objects.get(name="Wiki")
    assert app.authorization_grant_type == CODE
    assert app.keystead_settings.allowed_grants == [CODE, CC]
    registered = Event.objects.get(action="oidc.client_registered")
    assert registered.detail["door"] == "admin" and registered.detail["grant_types"] == [CODE, CC]
    assert secret.group(1).decode() not in str(registered.detail)

    change = console.get(f"/admin/oauth2_provider/application/{app.pk}/change/")
    assert re.search(rb'value="client-credentials"[^>]*checked', change.content)
    response = console.post(f"/admin/oauth2_provider/application/{app.pk}/change/", {
        **data, "allowed_grants": [CC], "redirect_uris": ""})
    assert response.status_code == 302, response.content[:3000]
    app.refresh_from_db()
    assert app.authorization_grant_type == CC
    assert ClientSettings.objects.get(application=app).allowed_grants == [CC]
    changed = Event.objects.get(action="oidc.client_changed")
    assert changed.detail["grant_types"] == {"before": [CODE, CC], "after": [CC]}


def test_console_refuses_no_grant_and_public_client_grants(admin_user):
    console = Client()
    console.force_login(admin_user)
    data = _console_form(console)
    none = console.post("/admin/oauth2_provider/application/add/", data)
    assert none.status_code == 200
    assert "at least one" in str(none.context["adminform"].form.errors["allowed_grants"])
    public = console.post("/admin/oauth2_provider/application/add/", {
        **data, "client_type": "public", "allowed_grants": [CODE, PW]})
    assert "public client" in str(public.context["adminform"].form.errors["allowed_grants"])
    assert not Application.objects.exists()


def test_console_deletion_is_audited(admin_user):
    app, _ = make_app()
    console = Client()
    console.force_login(admin_user)
    response = console.post(f"/admin/oauth2_provider/application/{app.pk}/delete/",
                            {"post": "yes"})
    assert response.status_code == 302, response.content[:2000]
    assert not Application.objects.filter(pk=app.pk).exists()
    event = Event.objects.get(action="oidc.client_deleted")
    assert event.detail == {"client_id": app.client_id, "name": app.name, "door": "admin"}


def test_console_audits_the_grant_an_application_had_before_it_listed_any(admin_user):
    """An application registered before allowed grants existed has none stored: its one
    grant is the toolkit's type, which the form changes before saving."""
    app, _ = make_app()  # authorization code, no ClientSettings row
    console = Client()
    console.force_login(admin_user)
    data = _console_form(console)
    response = console.post(f"/admin/oauth2_provider/application/{app.pk}/change/", {
        **data, "name": app.name, "allowed_grants": [CC], "redirect_uris": ""})
    assert response.status_code == 302, response.content[:3000]
    changed = Event.objects.get(action="oidc.client_changed")
    assert changed.detail["grant_types"] == {"before": [CODE], "after": [CC]}
