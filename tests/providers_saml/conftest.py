"""Fixtures: a lasso SP registered with Keystead's IdP, a person, a signed-in client."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from keystead.providers.saml import services

from .helpers import PASSWORD, LassoSp, lasso, make_key_pair


@pytest.fixture
def make_sp(tmp_path, client):
    """Register a lasso SP (settings as keywords of ``ApplicationSettings``)."""
    made = []

    def make(name: str = "lasso", *, sign_requests: bool = False, acs: str = "",
             requested: str = "", slo_response: str = "", slo: str = "redirect",
             **wanted) -> LassoSp:
        directory = tmp_path / f"sp-{name}-{len(made)}"
        directory.mkdir()
        make_key_pair(directory, name)
        entity_id = f"https://{name}.sp.test/metadata"
        acs = acs or f"https://{name}.sp.test/acs"
        extra = ["--sign-requests"] if sign_requests else []
        extra += ["--requested", requested] if requested else []
        extra += ["--slo-response", slo_response] if slo_response else []
        extra += {"redirect": [], "post": ["--slo-post"], "": ["--no-slo"]}[slo]
        xml = lasso(directory, "metadata", entity_id, acs, f"https://{name}.sp.test/slo",
                    *extra)["metadata"]
        application = services.register(
            services.ApplicationSettings(name=name.title(), slug=name, metadata_xml=xml,
                                         **wanted), actor=OPERATOR)
        sp = LassoSp(directory, entity_id, acs, application)
        sp.refresh_idp_metadata(client)
        made.append(sp)
        return sp

    return make


@pytest.fixture
def person(db) -> User:
    from keystead.directory.models import Group

    user = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    user.username = "ada"
    user.save()
    for name in ("engineers", "analysts"):
        Group.objects.create(name=name).members.add(user)
    return user


@pytest.fixture
def signed_in(client, person) -> Client:
    client.force_login(person)
    return client
