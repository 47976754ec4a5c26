"""The one small interface every connector implements.

An account object on a target has a ``name`` (what Keystead addresses it by:
an LDAP naming value, an SQL key) and a ``uid`` (the target's own stable
identifier, returned after create). Attributes are plain values keyed by the
target's attribute names, plus these special keys:

* ``__PASSWORD__``: the main password, always a ``Secret``;
* ``__ENABLE__``: ``True``/``False``, mapped to the target's own form
  (a ppolicy lock for LDAP, a column for SQL);
* ``__NAME__`` (``update`` only): the account's new name; the account is renamed
  on the target first (an LDAP modrdn, an UPDATE of the key column, a new SCIM
  ``userName``) and the other attributes are written to it under that name. An
  account found already under the new name (and no longer under the old one)
  counts as renamed, so a retry is harmless;
* other ``Secret`` values: further password attributes, written as given.

``create`` and ``update`` are both *create-or-update* where the target allows
it, and setting a password twice is harmless, so a worker that died after
sending an operation but before recording it can send it again safely.

``run_many`` sends several requests, each on a different account, and returns one
outcome per request. Its default runs them one after another through the methods
above; a connector whose client can have several requests in flight (LDAP)
overrides it so that a batch costs fewer round trips.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from keystead.secret import Secret, without

PASSWORD = "__PASSWORD__"
ENABLE = "__ENABLE__"
NAME = "__NAME__"
#: Recorded on an executed rename (in the archive) beside ``__NAME__``: the name it
#: replaced. Never sent to a connector.
RENAMED_FROM = "__RENAMED_FROM__"
#: The special keys, never written as attributes of their own name.
SPECIAL = frozenset({PASSWORD, ENABLE, NAME, RENAMED_FROM})

#: What ``run_many`` is asked to do with one account.
CREATE, UPDATE, DELETE = "create", "update", "delete"


class ConnectorError(Exception):
    """The target refused or failed. ``permanent`` errors (bad settings, a schema
    violation) go straight to ``exception``; others are retried on the schedule.

    The message must never contain a secret: connectors build it from the
    target's error text, never from the values sent.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SettingsError(ConnectorError):
    """The system's settings are unusable; the message names the setting and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class AttributeInfo:
    """One attribute (or column) of the target's account objects, as its schema says."""

    name: str
    required: bool = False
    multivalued: bool = False
    type: str = "string"


@dataclass(frozen=True)
class Request:
    """One account's change for ``run_many``: ``action`` is ``CREATE``, ``UPDATE`` or
    ``DELETE``; ``attributes`` as for ``create``/``update`` (ignored for a delete)."""

    action: str
    name: str
    attributes: Mapping[str, Any]


#: One request's outcome: the account's uid (None after a delete), or the exception that
#: failed it (a ``ConnectorError``, or anything else a connector bug raised).
Outcome = str | None | Exception


def secrets_in(attributes: Mapping[str, Any]) -> list[Secret]:
    return [value for value in attributes.values() if isinstance(value, Secret)]


class Connector(ABC):
    """A connection to one system; made per worker and reused across operations."""

    #: The connector type stored on ``System.connector``.
    type: ClassVar[str]

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Secret]) -> None:
        self.settings = dict(settings)
        self.secrets = dict(secrets)

    def without_secrets(self, text: str) -> str:
        """``text`` with the system's secrets hidden: for a client library's error, which
        may repeat what it was given (a header, a bind request)."""
        return without(text, self.secrets.values())

    @abstractmethod
    def test(self) -> None:
        """Connect and check the settings; raise ``ConnectorError`` saying what is wrong."""

    @abstractmethod
    def schema(self) -> list[AttributeInfo]:
        """The attributes the target's account objects may have."""

    @abstractmethod
    def read(self, name: str) -> dict[str, Any] | None:
        """The account's current attributes (never its password), or None if absent."""

    @abstractmethod
    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        """Create the account (or update it if it exists); returns its uid."""

    @abstractmethod
    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        """Change the given attributes (a password included), renaming the account first
        if ``__NAME__`` is among them; returns the uid (after a rename, the new one)."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete the account; an account already gone counts as deleted."""

    def run(self, request: Request) -> str | None:
        """Carry out one request through ``create``, ``update`` or ``delete``."""
        if request.action == CREATE:
            return self.create(request.name, request.attributes)
        if request.action == DELETE:
            self.delete(request.name)
            return None
        return self.update(request.name, request.attributes)

    def run_many(self, requests: Sequence[Request], *,
                 stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """Carry out requests on distinct accounts; one outcome per request, in order.

        A failing request fails only itself. When ``stop()`` turns true the requests not
        yet started are left alone: the list returned is then shorter, its outcomes
        those of the first requests. This default runs them one at a time.
        """
        outcomes: list[Outcome] = []
        for request in requests:
            if stop is not None and stop():
                break
            try:
                outcomes.append(self.run(request))
            except Exception as exc:  # the caller records it per request
                outcomes.append(exc)
        return outcomes

    def accounts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every account on the target as (name, attributes), for reconciliation."""
        raise ConnectorError(f"The {self.type} connector cannot list the target's accounts.",
                             permanent=True)

    def close(self) -> None:  # noqa: B027 - optional for connectors without a connection
        """Release the connection."""
