"""What an application learns about a person: the NameID and the released attributes.

Persistent NameIDs are an HMAC-SHA256 of the person's random ``subject`` under the
application's own key (``SamlApplication.persistent_key``, encrypted at rest): the
same person always gets the same value at one application, two applications get
unrelated values, and nobody without the key can compute or guess one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from saml2.saml import NameID

from keystead import crypto
from keystead.directory.models import User
from keystead.providers.saml.models import EMAIL, PERSISTENT, RELEASABLE, SamlApplication
from keystead.secret import Secret

KEY_PURPOSE = "saml-persistent-nameid"


def new_persistent_key() -> str:
    """A fresh per-application key, encrypted for storage."""
    return crypto.encrypt(Secret(secrets.token_hex(32)), KEY_PURPOSE)


def name_id_value(application: SamlApplication, user: User) -> str:
    if application.nameid_format == PERSISTENT:
        key = crypto.decrypt(application.persistent_key, KEY_PURPOSE).reveal().encode()
        return hmac.new(key, str(user.subject).encode(), hashlib.sha256).hexdigest()
    if application.nameid_format == EMAIL:
        return user.email
    return user.username or user.email


def name_id(application: SamlApplication, user: User, idp_entity_id: str) -> NameID:
    qualifiers = ({"name_qualifier": idp_entity_id, "sp_name_qualifier": application.entity_id}
                  if application.nameid_format == PERSISTENT else {})
    return NameID(format=application.nameid_format, text=name_id_value(application, user),
                  **qualifiers)


def _values(user: User, what: str) -> list[str]:
    if what == "groups":
        return sorted(user.directory_groups.values_list("name", flat=True))
    value = {"email": user.email, "given_name": user.given_name,
             "family_name": user.family_name, "username": user.username}[what]
    return [value] if value else []


def attributes(application: SamlApplication, user: User) -> dict[str, list[str]]:
    """SAML attribute name → values, for the attributes the application is set to receive.
    An attribute without a value (no groups, no user name) is left out."""
    released: dict[str, list[str]] = {}
    for what, saml_name in (application.attributes or {}).items():
        if what in RELEASABLE and saml_name:
            values = _values(user, what)
            if values:
                released[saml_name] = values
    return released
