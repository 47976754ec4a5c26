"""A mapping for inetOrgPerson entries on the test slapd, shared by the mapping tests."""

from __future__ import annotations

from keystead.provisioning.models import MappedAttribute, System


def map_person(system: System, *, password_script: str = "",
               extra_password: str = "") -> None:
    """cn, sn and mail from the person; ``__PASSWORD__`` as a password attribute (through
    ``password_script`` if given); ``extra_password``, if given, names a second password
    attribute that gets ``{SSHA}`` of the password (``userPassword`` verifies it)."""
    MappedAttribute.objects.create(system=system, name="cn", source="full_name")
    MappedAttribute.objects.create(system=system, name="sn", source="family_name")
    MappedAttribute.objects.create(system=system, name="mail", source="email")
    MappedAttribute.objects.create(system=system, name="description",
                                   script='"Keystead: " + user.username')
    MappedAttribute.objects.create(system=system, name="__PASSWORD__", is_password=True,
                                   script=password_script)
    if extra_password:
        MappedAttribute.objects.create(system=system, name=extra_password, is_password=True,
                                       script="value == null ? null : ssha(value)")
