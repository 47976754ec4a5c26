"""What Keystead's SCIM resources look like: the attribute definitions of RFC 7643.

One definition serves three readers: ``/Schemas`` publishes it, PATCH uses it to
know which attributes are multi-valued, complex or read-only, and the
``attributes``/``excludedAttributes`` parameters use it to resolve names. Only
the attributes Keystead actually stores are declared, so a client that reads
``/Schemas`` is never promised an attribute that would be silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition (RFC 7643 §7), with the RFC's defaults."""

    name: str
    type: str = "string"
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    sub_attributes: tuple[Attribute, ...] = ()
    reference_types: tuple[str, ...] = ()
    canonical_values: tuple[str, ...] = ()
    # Computed from other attributes (e.g. displayName from the names): values
    # a client writes are ignored rather than refused, as identity providers
    # send them on every update. Not published: it is Keystead's policy.
    derived: bool = False

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``; attribute names are case-insensitive."""
        lowered = name.lower()
        return next((s for s in self.sub_attributes if s.name.lower() == lowered), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.sub_attributes:
            data["subAttributes"] = [s.to_json() for s in self.sub_attributes]
        if self.reference_types:
            data["referenceTypes"] = list(self.reference_types)
        if self.canonical_values:
            data["canonicalValues"] = list(self.canonical_values)
        return data


@dataclass(frozen=True)
class ResourceSchema:
    """A resource's core schema plus the common attributes (id, externalId, meta)."""

    id: str
    name: str
    endpoint: str
    description: str
    attributes: tuple[Attribute, ...]
    common: tuple[Attribute, ...] = field(default=())
    # Attributes the standard defines that Keystead does not keep (lower-case names), and
    # extension schemas whose attributes it does not keep: a write to them is ignored,
    # as in a POST body, so a client's default mappings work unchanged (RFC 7644 §3.3).
    standard_unkept: frozenset[str] = frozenset()
    extensions_unkept: tuple[str, ...] = ()

    def unkept(self, uri: str | None, name: str) -> bool:
        """Whether ``name`` (of schema ``uri``) is a standard attribute Keystead ignores."""
        if uri is not None and uri.lower() != self.id.lower():
            return uri.lower() in (e.lower() for e in self.extensions_unkept)
        return self.attribute(name) is None and name.lower() in self.standard_unkept

    def attribute(self, name: str) -> Attribute | None:
        """Look an attribute up by name, ignoring case, common attributes included."""
        lowered = name.lower()
        for attribute in (*self.common, *self.attributes):
            if attribute.name.lower() == lowered:
                return attribute
        return None

    def strip_urn(self, name: str) -> str | None:
        """``urn:...:User:userName`` → ``userName``; None if the URN is another schema's."""
        if ":" not in name:
            return name
        prefix, _, rest = name.rpartition(":")
        return rest if prefix.lower() == self.id.lower() else None

    def to_json(self, location: str) -> dict[str, Any]:
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_json() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


COMMON = (
    Attribute("id", case_exact=True, mutability="readOnly", returned="always",
              uniqueness="server", description="Keystead's identifier for the resource."),
    Attribute("externalId", case_exact=True,
              description="The client's own identifier for the resource."),
    Attribute("meta", type="complex", mutability="readOnly", sub_attributes=(
        Attribute("resourceType", case_exact=True, mutability="readOnly"),
        Attribute("created", type="dateTime", mutability="readOnly"),
        Attribute("lastModified", type="dateTime", mutability="readOnly"),
        Attribute("location", type="reference", mutability="readOnly",
                  reference_types=("uri",)),
        Attribute("version", case_exact=True, mutability="readOnly"),
    )),
)

USER = ResourceSchema(
    id=USER_SCHEMA,
    name="User",
    endpoint="/Users",
    description="A person in the Keystead directory.",
    common=COMMON,
    # RFC 7643 §4.1's User attributes that Keystead does not keep.
    standard_unkept=frozenset({
        "nickname", "profileurl", "title", "usertype", "preferredlanguage", "locale",
        "timezone", "phonenumbers", "ims", "photos", "addresses", "entitlements", "roles",
        "x509certificates"}),
    extensions_unkept=(ENTERPRISE_USER_SCHEMA,),
    attributes=(
        Attribute("userName", required=True, uniqueness="server",
                  description="The user name, a sign-in name beside the email (an employee "
                              "number, a user principal name, an address): kept as sent, "
                              "unique regardless of case."),
        Attribute("name", type="complex", required=True,
                  description="The person's name; given and family names are required.",
                  sub_attributes=(
                      Attribute("formatted", mutability="readOnly", derived=True,
                                description="Given and family name, derived."),
                      Attribute("familyName", required=True, description="Family name."),
                      Attribute("givenName", required=True, description="Given name."),
                  )),
        Attribute("displayName", mutability="readOnly", derived=True,
                  description="Given and family name, derived; values sent are ignored."),
        Attribute("emails", type="complex", multi_valued=True, required=True,
                  description="The user's address, where resets and sign-in codes are "
                              "mailed; also a sign-in name. Keystead keeps one address per "
                              "user: the primary one (else the work one, else the first).",
                  sub_attributes=(
                      Attribute("value", required=True, description="The email address."),
                      Attribute("type", canonical_values=("work",),
                                description="Always 'work'."),
                      Attribute("primary", type="boolean",
                                description="Always true: the one address is the primary."),
                  )),
        Attribute("active", type="boolean", required=True,
                  description="Whether the user may sign in. Always set: true when a new "
                              "user is created without it; it can be replaced, not removed."),
        Attribute("password", mutability="writeOnly", returned="never", case_exact=True,
                  description="Sets the user's password. Never returned."),
        Attribute("groups", type="complex", multi_valued=True, mutability="readOnly",
                  description="The directory groups the user belongs to; change them "
                              "through /Groups.",
                  sub_attributes=(
                      Attribute("value", mutability="readOnly", case_exact=True,
                                description="The group's id."),
                      Attribute("$ref", type="reference", mutability="readOnly",
                                reference_types=("Group",), case_exact=True),
                      Attribute("display", mutability="readOnly"),
                      Attribute("type", mutability="readOnly", canonical_values=("direct",)),
                  )),
    ),
)

GROUP = ResourceSchema(
    id=GROUP_SCHEMA,
    name="Group",
    endpoint="/Groups",
    description="A directory group of users.",
    common=COMMON,
    attributes=(
        Attribute("displayName", required=True, uniqueness="server",
                  description="The group's name, unique regardless of case."),
        Attribute("members", type="complex", multi_valued=True,
                  description="The users in the group (nested groups are not supported).",
                  sub_attributes=(
                      Attribute("value", mutability="immutable", case_exact=True,
                                description="The member's user id."),
                      Attribute("$ref", type="reference", mutability="immutable",
                                reference_types=("User",), case_exact=True),
                      Attribute("display", mutability="readOnly"),
                      Attribute("type", mutability="immutable", canonical_values=("User",)),
                  )),
    ),
)

RESOURCE_SCHEMAS = (USER, GROUP)
