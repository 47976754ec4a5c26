"""Reading a person's Keystead fields out of a directory entry.

Sign-in (creating or linking a person on first sign-in) and sync both read
entries through ``person_from_entry``, so a mapping setting means the same
thing in both. A missing family name is reported, never made up: the
caller decides whether that refuses the entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

Entry = dict[str, list[bytes]]


@dataclass(frozen=True)
class PersonFields:
    """What an entry says about a person, and what it lacks."""

    unique_id: str
    email: str
    given_name: str
    family_name: str
    username: str
    problems: tuple[str, ...] = field(default=())


def _first(entry: Entry, attribute: str) -> bytes | None:
    if not attribute:
        return None
    for name, values in entry.items():  # LDAP attribute names are case-insensitive
        if name.lower() == attribute.lower() and values:
            return values[0]
    return None


def _text(entry: Entry, attribute: str) -> str:
    value = _first(entry, attribute)
    return value.decode("utf-8", "replace").strip() if value is not None else ""


def unique_id_of(entry: Entry, attribute: str) -> str:
    """The entry's stable identifier as text. Active Directory's objectGUID is 16 raw
    bytes (little-endian GUID); it is written the way Windows shows it."""
    value = _first(entry, attribute)
    if value is None:
        return ""
    if attribute.lower() == "objectguid" and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    return value.decode("utf-8", "replace").strip()


def person_from_entry(source, entry: Entry) -> PersonFields:
    """The person an entry describes under ``source``'s attribute mapping."""
    fields = PersonFields(
        unique_id=unique_id_of(entry, source.unique_id_attribute),
        email=_text(entry, source.email_attribute),
        given_name=_text(entry, source.given_name_attribute),
        family_name=_text(entry, source.family_name_attribute),
        username=_text(entry, source.username_attribute),
    )
    problems = []
    if not fields.unique_id:
        problems.append(f"The entry has no {source.unique_id_attribute} (the source's unique "
                        "identifier attribute).")
    if not fields.email:
        problems.append(f"The entry has no {source.email_attribute} (mapped to email).")
    if not fields.family_name:
        problems.append(f"The entry has no {source.family_name_attribute} (mapped to family "
                        "name); it is not filled in.")
    return PersonFields(**{**fields.__dict__, "problems": tuple(problems)})


def mapped_attributes(source) -> list[str]:
    """The attributes to ask the directory for, so searches do not fetch whole entries."""
    names = [source.unique_id_attribute, source.email_attribute, source.given_name_attribute,
             source.family_name_attribute, source.username_attribute, source.user_key]
    return list(dict.fromkeys(n for n in names if n))
