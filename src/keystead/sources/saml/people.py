"""Which Keystead person a verified assertion names, and creating one when allowed.

The user key decides: a persistent NameID or the configured attribute matches
the person's identifier from this source, else their unique user identifier
(user name); an emailAddress NameID matches the email. A person the IdP
names but Keystead does not know is created only when the source allows it.
"""

from __future__ import annotations

from django.db import transaction

from keystead.directory import services
from keystead.directory.authorization import Actor
from keystead.directory.models import Source, User
from keystead.directory.models import UserKey as DirectoryKey
from keystead.sources.saml.models import SamlSource, UserKey
from keystead.sources.saml.sp import InvalidTicket, Verified

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _first(verified: Verified, name: str) -> str:
    if not name:
        return ""
    for key, values in verified.attributes.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return ""


def identifier(source: SamlSource, verified: Verified) -> str:
    """The value the user key names, or ``InvalidTicket`` saying what was missing."""
    if source.user_key == UserKey.UNSPECIFIED:
        value = _first(verified, source.identifier_attribute)
        if not value:
            raise InvalidTicket(f"the assertion has no {source.identifier_attribute!r} "
                                "attribute (the user key); check the IdP's attribute release "
                                "or the 'Identifier attribute' setting")
        return value
    wanted = PERSISTENT if source.user_key == UserKey.PERSISTENT else EMAIL
    if verified.name_id_format and verified.name_id_format != wanted:
        raise InvalidTicket(f"the NameID format is {verified.name_id_format}, but the "
                            f"authentication user key is {wanted}; set the same on both sides")
    if not verified.name_id:
        raise InvalidTicket("the assertion has no NameID")
    return verified.name_id


def find(source: SamlSource, value: str) -> User | None:
    if source.user_key == UserKey.EMAIL:
        return User.objects.identified_by(DirectoryKey.EMAIL, value).first()
    return (User.objects.identified_by(DirectoryKey.SOURCE_ID, value, source=Source.SAML).first()
            or User.objects.identified_by(DirectoryKey.USERNAME, value).first())


def create(source: SamlSource, verified: Verified, value: str, *, request) -> User:
    """A new person from the assertion's attributes (the source's mapping)."""
    email = value if source.user_key == UserKey.EMAIL else _first(verified,
                                                                   source.email_attribute)
    values = {
        "email": email,
        "given_name": _first(verified, source.given_name_attribute),
        "family_name": _first(verified, source.family_name_attribute),
        "source": Source.SAML,
        "source_id": "" if source.user_key == UserKey.EMAIL else value,
    }
    if source.user_key != UserKey.EMAIL:
        values["username"] = value
    actor = Actor(label=f"SAML sign-in ({source.name})",
                  permissions=frozenset({"directory.add_user"}))
    try:
        with transaction.atomic():
            return services.create_user(values, actor=actor, request=request, door="saml")
    except services.RuleViolation as exc:
        raise InvalidTicket(f"cannot create the person from the assertion: {exc}") from exc
