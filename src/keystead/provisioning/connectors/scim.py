"""The SCIM 2.0 connector (httpx): push Users to another SCIM server (RFC 7643/7644).

Settings (``System.settings``; the bearer token is the system secret ``bearer_token``):

``url``       the server's SCIM base, e.g. ``https://apps.example.org/scim/v2``
``ca_pem``    PEM of the CA that issued the server's certificate (empty: system CAs)
``timeout``   seconds for a connection or an answer (default 10)

An account's name is its ``userName``; its uid is the server's ``id``.
Attribute names are SCIM paths: ``displayName``, ``name.givenName``,
``emails`` (a list of ``{"value": …, "type": …}``), an extension's
``urn:…:User:employeeNumber``. ``__PASSWORD__`` is sent as ``password``
(write-only in SCIM: servers never return it) and ``__ENABLE__`` as ``active``.

``create`` looks the userName up first and replaces (PUT) a User that exists,
otherwise adds it (POST), so a create sent twice leaves one User. ``update``
sends a PATCH of the given attributes only; with ``__NAME__`` it also replaces
``userName`` (the User keeps its ``id``), and a User found only under the new
name was renamed by an earlier attempt. A delete of a User already gone
succeeds.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from keystead.provisioning.connectors.base import (
    ENABLE,
    NAME,
    PASSWORD,
    SPECIAL,
    AttributeInfo,
    Connector,
    ConnectorError,
    SettingsError,
)
from keystead.secret import Secret

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MEDIA_TYPE = "application/scim+json"
PAGE = 200
#: RFC 6750's b64token: what may follow "Bearer " in the header.
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: HTTP answers a retry may cure: timeouts, throttling, the server's own trouble.
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


def _quoted(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 §3.4.2.2: JSON string rules)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _nest(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``name.givenName`` paths as SCIM's nested objects; an extension URN keeps its colons."""
    body: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.startswith("urn:") and ":" in key[4:]:
            schema, _, attribute = key.rpartition(":")
            body.setdefault(schema, {})[attribute] = value
            continue
        head, dot, rest = key.partition(".")
        if dot:
            body.setdefault(head, {})[rest] = value
        else:
            body[key] = value
    return body


class ScimConnector(Connector):
    type = "scim"

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Secret]) -> None:
        super().__init__(settings, secrets)
        url = str(self.settings.get("url") or "").rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise SettingsError("SCIM setting 'url' must be the server's SCIM base, "
                                "e.g. https://apps.example.org/scim/v2.")
        self.url = url
        token = self.secrets.get("bearer_token")
        if token and not BEARER_TOKEN.fullmatch(token.reveal()):
            raise SettingsError("SCIM secret 'bearer_token' holds a character a bearer token "
                                "cannot have (a space, a line break): paste the token again, "
                                "without them.")
        self.timeout = float(self.settings.get("timeout") or 10)
        self._client: httpx.Client | None = None

    # -- the connection -------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            if self.settings.get("ca_pem"):
                verify = ssl.create_default_context(cadata=self.settings["ca_pem"])
            headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
            token = self.secrets.get("bearer_token")
            if token:
                headers["Authorization"] = f"Bearer {token.reveal()}"
            self._client = httpx.Client(base_url=self.url, headers=headers,
                                        timeout=self.timeout, verify=verify)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _send(self, doing: str, method: str, path: str, *, ok: tuple[int, ...] = (),
              **kwargs: Any) -> httpx.Response:
        """One request; an error answer becomes a ``ConnectorError`` in the server's words."""
        try:
            response = self._http().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectorError(self.without_secrets(
                f"SCIM {doing} failed: {type(exc).__name__}: {exc}")) from None
        if response.is_success or response.status_code in ok:
            return response
        detail = ""
        try:
            body = response.json()
            detail = " ".join(str(body[k]) for k in ("scimType", "detail") if body.get(k))
        except ValueError:
            detail = response.text[:300]
        raise ConnectorError(
            f"SCIM {doing} failed: HTTP {response.status_code}" + (f": {detail}" if detail
                                                                    else ""),
            permanent=response.status_code not in _TRANSIENT)

    def _find(self, name: str) -> dict[str, Any] | None:
        found = self._send("search", "GET", "/Users",
                           params={"filter": f"userName eq {_quoted(name)}"}).json()
        resources = found.get("Resources") or []
        exact = [r for r in resources if r.get("userName", "").lower() == name.lower()]
        return exact[0] if exact else None

    @staticmethod
    def _body(name: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        plain = {key: value for key, value in attributes.items()
                 if key not in SPECIAL and not isinstance(value, Secret)}
        body = {"schemas": [USER_SCHEMA], **_nest(plain), "userName": name}
        extensions = [key for key in body if key.startswith("urn:") and key != USER_SCHEMA
                      and key != "schemas"]
        body["schemas"] += extensions
        password = attributes.get(PASSWORD)
        if isinstance(password, Secret):
            body["password"] = password.reveal()
        if ENABLE in attributes:
            body["active"] = bool(attributes[ENABLE])
        return body

    @staticmethod
    def _shown(resource: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in resource.items()
                if key not in ("password", "schemas", "meta")}

    # -- the interface ----------------------------------------------------------------
    def test(self) -> None:
        self._send("read of /ServiceProviderConfig", "GET", "/ServiceProviderConfig")
        self._send("search of /Users", "GET", "/Users", params={"count": 0})

    def schema(self) -> list[AttributeInfo]:
        found = self._send("read of the User schema", "GET", f"/Schemas/{USER_SCHEMA}").json()
        out = []
        for attribute in found.get("attributes", []):
            if attribute.get("mutability") == "readOnly" or attribute["name"] == "password":
                continue
            subs = attribute.get("subAttributes") or []
            if attribute.get("type") == "complex" and not attribute.get("multiValued"):
                out += [AttributeInfo(name=f"{attribute['name']}.{sub['name']}",
                                      required=bool(sub.get("required")),
                                      type=sub.get("type", "string")) for sub in subs]
            else:
                out.append(AttributeInfo(name=attribute["name"],
                                         required=bool(attribute.get("required")),
                                         multivalued=bool(attribute.get("multiValued")),
                                         type=attribute.get("type", "string")))
        out += [AttributeInfo(name=PASSWORD), AttributeInfo(name=ENABLE, type="boolean")]
        return sorted(out, key=lambda a: (not a.required, a.name.lower()))

    def read(self, name: str) -> dict[str, Any] | None:
        found = self._find(name)
        return None if found is None else self._shown(found)

    def accounts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every User on the server, page by page: (userName, attributes)."""
        start = 1
        while True:
            page = self._send("listing of /Users", "GET", "/Users",
                              params={"startIndex": start, "count": PAGE}).json()
            resources = page.get("Resources") or []
            for resource in resources:
                yield resource.get("userName", ""), self._shown(resource)
            start += len(resources)
            if not resources or start > int(page.get("totalResults", 0)):
                return

    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        body = self._body(name, attributes)
        existing = self._find(name)
        if existing is None:
            made = self._send("create", "POST", "/Users", json=body).json()
            return str(made["id"])
        body["id"] = existing["id"]
        self._send("replace", "PUT", f"/Users/{existing['id']}", json=body)
        return str(existing["id"])

    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        new_name = str(attributes.get(NAME) or name)
        existing = self._find(name)
        if existing is None and new_name != name:
            existing = self._find(new_name)  # renamed by an earlier attempt
        if existing is None:
            raise ConnectorError(f"SCIM update failed: the server has no User {name!r}; "
                                 "create the account first.", permanent=True)
        body = self._body(new_name, attributes)
        operations = [{"op": "replace", "path": key, "value": value}
                      for key, value in body.items() if key not in ("schemas", "userName")]
        if existing.get("userName") != new_name:
            operations.insert(0, {"op": "replace", "path": "userName", "value": new_name})
        if operations:
            self._send("update", "PATCH", f"/Users/{existing['id']}",
                       json={"schemas": [PATCH_SCHEMA], "Operations": operations})
        return str(existing["id"])

    def delete(self, name: str) -> None:
        existing = self._find(name)
        if existing is not None:
            self._send("delete", "DELETE", f"/Users/{existing['id']}", ok=(404,))
