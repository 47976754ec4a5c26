"""SCIM fixtures: a JSON helper over Django's test client, and real HTTP clients.

``scim`` drives the views in-process (fast, inside a rolled-back transaction).
``live_scim`` and ``scim2`` talk to the app over a real loopback socket
(pytest-django's ``live_server``): the first with plain httpx, the second with
the independent ``scim2-client`` library.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scim2_models import Group, ScimProvider, User
from scim_helpers import HttpxSCIMClient, ScimApi

from keystead.directory.models import User as DirectoryUser


@pytest.fixture
def scim(client, token_for) -> ScimApi:
    return ScimApi(client, token_for("scim"))


@pytest.fixture
def scim_admin(client, admin_token) -> ScimApi:
    return ScimApi(client, admin_token)


@pytest.fixture
def make_user(db):
    def make(email: str, given: str = "Test", family: str = "Person", **extra: Any):
        return DirectoryUser.objects.create_user(email, given, family, **extra)

    return make


@pytest.fixture
def live_base(live_server, settings) -> str:
    """The live server's SCIM base; BASE_URL points there so meta.location is reachable."""
    settings.BASE_URL = live_server.url
    return f"{live_server.url}/scim/v2"


@pytest.fixture
def live_scim(live_base, token_for) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_base,
                      headers={"Authorization": f"Bearer {token_for('scim')}"},
                      timeout=30) as client:
        yield client


@pytest.fixture
def scim2(live_scim) -> HttpxSCIMClient:
    """An independent SCIM client: standard models, endpoints and features discovered."""
    client = HttpxSCIMClient(live_scim, provider=ScimProvider(models=[User, Group],
                                                               resource_types=[]))
    client.discover(schemas=False)
    return client
