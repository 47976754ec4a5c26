"""The SCIM connector against an independent SCIM server (scim2-server)."""

from __future__ import annotations

import pytest

from keystead.provisioning.connectors.base import (
    ENABLE,
    NAME,
    PASSWORD,
    ConnectorError,
    SettingsError,
)
from keystead.provisioning.connectors.scim import ScimConnector
from keystead.secret import REDACTED, Secret

from .conftest import ScimServer

CANARY = "Scim-Canary-Password-8841"


def test_create_sends_the_user_with_its_password(scim: ScimConnector,
                                                  scim_server: ScimServer) -> None:
    uid = scim.create("ann", {"displayName": "Ann Example", "name.givenName": "Ann",
                              "name.familyName": "Example",
                              "emails": [{"value": "ann@example.org", "type": "work"}],
                              PASSWORD: Secret(CANARY), ENABLE: True})
    [user] = scim_server.users()
    assert user["id"] == uid and user["userName"] == "ann" and user["active"] is True
    assert user["name"] == {"givenName": "Ann", "familyName": "Example"}
    assert user["emails"][0]["value"] == "ann@example.org"
    assert "password" not in user  # write-only: the server took it and never returns it
    seen = scim.read("ann")
    assert seen["displayName"] == "Ann Example" and "password" not in seen


def test_create_sent_twice_replaces_and_leaves_one_user(scim: ScimConnector,
                                                         scim_server: ScimServer) -> None:
    first = scim.create("bob", {"displayName": "Bob One", PASSWORD: Secret(CANARY)})
    second = scim.create("bob", {"displayName": "Bob Two", PASSWORD: Secret(CANARY)})
    assert first == second
    [user] = scim_server.users()
    assert user["displayName"] == "Bob Two"


def test_update_patches_only_the_given_attributes(scim: ScimConnector,
                                                   scim_server: ScimServer) -> None:
    scim.create("cy", {"displayName": "Cy", "title": "Clerk", ENABLE: True})
    scim.update("cy", {"title": "Chief", PASSWORD: Secret(CANARY)})
    scim.update("cy", {ENABLE: False})
    [user] = scim_server.users()
    assert (user["displayName"], user["title"], user["active"]) == ("Cy", "Chief", False)


def test_update_of_a_missing_user_is_a_permanent_error(scim: ScimConnector) -> None:
    with pytest.raises(ConnectorError, match="no User 'nobody'") as refused:
        scim.update("nobody", {"title": "x"})
    assert refused.value.permanent


def test_delete_is_idempotent(scim: ScimConnector, scim_server: ScimServer) -> None:
    scim.create("dee", {"displayName": "Dee"})
    scim.delete("dee")
    scim.delete("dee")
    assert scim_server.users() == [] and scim.read("dee") is None


def test_accounts_lists_every_user(scim: ScimConnector) -> None:
    for name in ("u1", "u2", "u3"):
        scim.create(name, {"displayName": name.upper()})
    assert sorted(name for name, _ in scim.accounts()) == ["u1", "u2", "u3"]


def test_a_wrong_token_is_refused_in_the_servers_words(scim_server: ScimServer) -> None:
    connector = ScimConnector({"url": scim_server.url}, {"bearer_token": Secret("wrong")})
    with pytest.raises(ConnectorError, match="HTTP 401") as refused:
        connector.test()
    assert refused.value.permanent and "wrong" not in str(refused.value)
    connector.close()


@pytest.mark.parametrize("token", ["pasted-with-a-space ", "two\nlines", "tab\there"])
def test_a_token_a_header_cannot_carry_is_refused_naming_the_secret(token: str) -> None:
    """httpx would refuse the header and repeat it, token and all, in its error."""
    with pytest.raises(SettingsError, match="'bearer_token' holds a character") as refused:
        ScimConnector({"url": "https://apps.example.org/scim/v2"},
                      {"bearer_token": Secret(token)})
    assert token.strip() not in str(refused.value)


def test_a_client_librarys_error_text_loses_the_systems_secrets() -> None:
    connector = ScimConnector({"url": "https://apps.example.org/scim/v2"},
                              {"bearer_token": Secret("Scim-Canary-Token-5512")})
    echoed = "Illegal header value b'Bearer Scim-Canary-Token-5512'"
    assert connector.without_secrets(echoed) == f"Illegal header value b'Bearer {REDACTED}'"


def test_schema_lists_the_user_attributes(scim: ScimConnector) -> None:
    names = {attribute.name for attribute in scim.schema()}
    assert {"userName", "displayName", "name.givenName", "emails", PASSWORD,
            ENABLE} <= names
    assert "password" not in names and "id" not in names


def test_bad_url_names_the_setting() -> None:
    with pytest.raises(ConnectorError, match="'url'"):
        ScimConnector({"url": "apps.example.org"}, {})


def test_a_rename_replaces_the_user_name_and_sent_again_is_harmless(
        scim: ScimConnector, scim_server: ScimServer) -> None:
    uid = scim.create("eve", {"displayName": "Eve", "title": "Clerk"})
    renamed = {NAME: "eve.king", "title": "Chief"}
    assert scim.update("eve", renamed) == uid
    assert scim.update("eve", renamed) == uid  # a retry: found under the new name
    [user] = scim_server.users()
    assert (user["id"], user["userName"], user["title"]) == (uid, "eve.king", "Chief")
    assert scim.read("eve") is None
    with pytest.raises(ConnectorError, match="no User 'ghost'") as refused:
        scim.update("ghost", {NAME: "ghost2"})
    assert refused.value.permanent
