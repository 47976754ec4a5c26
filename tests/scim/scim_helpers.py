"""Helpers shared by the SCIM tests (a unique module name, so imports cannot collide)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from scim2_client import BaseSyncSCIMClient, RequestNetworkException


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client over an ``httpx.Client``.

    scim2-client 0.13 ships its network engine for ``httpx2`` only; this is the
    same few lines for httpx, which the project already depends on. All SCIM
    request building and response checking stays scim2-client's own.
    """

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.client.base_url
        url = self.client.build_request("GET", endpoint).url
        return url.host == base.host and url.port == base.port and \
            url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.RequestError as exc:
            raise RequestNetworkException() from exc


class ScimApi:
    """Tiny JSON helper around Django's test client with a bearer token."""

    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None,
             headers: dict[str, str] | None = None, **params: Any):
        extra = {}
        if self.token is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        url = path if path.startswith("/") else f"/scim/v2/{path}"
        if params:
            url += "?" + urlencode(params)
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return self.client.generic(method, url, data=data,
                                   content_type="application/scim+json", **extra)

    def get(self, path: str, **params: Any):
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any, **kwargs: Any):
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any):
        return self.call("PUT", path, body, **kwargs)

    def patch(self, path: str, *operations: dict[str, Any], **kwargs: Any):
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": list(operations)}
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.call("DELETE", path, **kwargs)


def user_body(email: str = "bjensen@example.com", given: str = "Barbara",
              family: str | None = "Jensen", **extra: Any) -> dict[str, Any]:
    """A SCIM User whose userName is its (primary, work) email unless ``extra`` says otherwise."""
    name: dict[str, Any] = {"givenName": given}
    if family is not None:
        name["familyName"] = family
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
            "name": name, "emails": [{"value": email, "type": "work", "primary": True}],
            **extra}



def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type is not None:
        assert body["scimType"] == scim_type
    return body
