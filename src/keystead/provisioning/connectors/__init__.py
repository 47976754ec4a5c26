"""Connectors by type: ``connector_for(system)`` makes the one a system's settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keystead.provisioning.connectors.base import Connector, ConnectorError, SettingsError

if TYPE_CHECKING:
    from keystead.provisioning.models import System

__all__ = ["Connector", "ConnectorError", "SettingsError", "connector_for"]


def connector_for(system: System) -> Connector:
    """A new connector for ``system`` (imported late: each pulls in its own client library)."""
    if system.connector == "ldap":
        from keystead.provisioning.connectors.ldap import LdapConnector

        return LdapConnector(system.settings, system.secrets())
    if system.connector == "sql":
        from keystead.provisioning.connectors.sql import SqlConnector

        return SqlConnector(system.settings, system.secrets())
    if system.connector == "ad":
        from keystead.provisioning.connectors.ad import ActiveDirectoryConnector

        return ActiveDirectoryConnector(system.settings, system.secrets())
    if system.connector == "scim":
        from keystead.provisioning.connectors.scim import ScimConnector

        return ScimConnector(system.settings, system.secrets())
    raise SettingsError(f"System {system.name!r} has connector type {system.connector!r}, "
                        "which this version does not know; choose ldap, ad, sql or scim.")
