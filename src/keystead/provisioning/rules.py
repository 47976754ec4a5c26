"""What happens to a new operation, decided from the system's flags alone (no I/O)."""

from __future__ import annotations

from keystead.provisioning.models import Kind, Reason, State


def kind_blocked(*, kind: str, block_create: bool, block_update: bool,
                 block_delete: bool) -> bool:
    """A password operation is an update of the account, so ``block_update`` covers it."""
    return {Kind.CREATE: block_create, Kind.UPDATE: block_update,
            Kind.PASSWORD: block_update, Kind.DELETE: block_delete}[Kind(kind)]


def admission(*, kind: str, read_only: bool, disabled: bool, block_create: bool,
              block_update: bool, block_delete: bool) -> tuple[str, str]:
    """The state and reason a new operation starts in.

    Read-only wins over everything (the administrator wants to see what would
    be sent); a blocked kind comes next; a disabled system keeps the operation
    waiting (``not executed`` with reason ``disabled`` until the system is
    enabled, when it is released to run).
    """
    if read_only:
        return State.NOT_EXECUTED, Reason.READ_ONLY
    if kind_blocked(kind=kind, block_create=block_create, block_update=block_update,
                    block_delete=block_delete):
        return State.NOT_EXECUTED, Reason.BLOCKED_KIND
    if disabled:
        return State.NOT_EXECUTED, Reason.DISABLED
    return State.CREATED, Reason.NONE


def admission_for(system, kind: str) -> tuple[str, str]:
    return admission(kind=kind, read_only=system.read_only, disabled=system.disabled,
                     block_create=system.block_create, block_update=system.block_update,
                     block_delete=system.block_delete)


#: An earlier operation in one of these states makes a new one of the same account
#: ``blocked`` (it cannot run until that one is executed, retried or cancelled).
TROUBLED_STATES = frozenset({State.EXCEPTION, State.NOT_EXECUTED, State.BLOCKED})
