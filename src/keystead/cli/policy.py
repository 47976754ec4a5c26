"""``keystead policy``: show and change the logon policy.

The breach filter is built by ``keystead password-filter build``;
``keystead policy build-filter`` is a hidden alias of it.

Changes go through ``keystead.policy.changes``, like the admin console and the
REST API: the same checks with the same messages, and one audit event
(door ``cli``) listing every changed setting as ``[old, new]``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keystead.cli._common import (
    InputError,
    console,
    input_error,
    needs_django,
    setup_django,
    table,
    when,
)

if TYPE_CHECKING:
    from keystead.directory.models import Group
    from keystead.policy.models import GroupPolicy, LogonPolicy

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


@click.group()
def policy() -> None:
    """Logon policy: show it and change it.

    The installation has one policy; a group can have a stricter one. For each
    rule a person gets the strictest value of the installation's policy and
    the policies of all their groups.
    """


# -- show ---------------------------------------------------------------


@policy.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@needs_django
def show(as_json: bool) -> None:
    """Show the installation's policy and every group policy, one column each: every
    setting `keystead policy set` takes, by the name it takes ("—" where a policy has no
    such setting: how people sign in is the installation's alone, and whether members
    need a second factor is a group's).

    \b
    Examples:
      keystead policy show
      keystead policy show --json
    """
    from keystead.policy.changes import (
        GROUP_FIELDS,
        INSTALLATION_FIELDS,
        describe_value,
        group_settings_of,
        installation_settings_of,
    )
    from keystead.policy.models import GroupPolicy, LogonPolicy

    site = LogonPolicy.current()
    groups = list(GroupPolicy.objects.select_related("group").order_by("group__name"))
    if as_json:
        click.echo(json.dumps({
            "installation": installation_settings_of(site),
            "groups": {gp.group.name: group_settings_of(gp) for gp in groups},
        }, indent=2, ensure_ascii=False))
        return

    def shown(policy: LogonPolicy | GroupPolicy, name: str, has: tuple[str, ...]) -> str:
        return describe_value(name, getattr(policy, name)) if name in has else "—"

    grid = table("Setting", "Installation", *(f"Group {gp.group.name}" for gp in groups))
    for name in dict.fromkeys((*INSTALLATION_FIELDS, *GROUP_FIELDS)):
        grid.add_row(name, shown(site, name, INSTALLATION_FIELDS),
                     *(shown(gp, name, GROUP_FIELDS) for gp in groups))
    out = console()
    out.print(grid)
    out.print(f"Installation policy last changed {when(site.updated_at)}.")
    if groups:
        out.print("For each rule a group's members get the strictest value of the installation's "
                  "and their groups' policies.")
    else:
        out.print("No group has a policy of its own; `keystead policy set --group NAME ...` "
                  "adds one.")


# -- set ----------------------------------------------------------------


def _parse(assignment: str) -> tuple[str, Any]:
    """``KEY=VALUE`` to a setting name and a typed value; InputError says what is wrong."""
    from keystead.policy.changes import GROUP_FLAGS, INSTALLATION_FIELDS, SETTING_FIELDS, is_flag

    key, sep, raw = assignment.partition("=")
    name = key.strip().replace("-", "_")
    raw = raw.strip()
    if not sep or not name:
        raise InputError(f"{assignment!r}: write KEY=VALUE, e.g. max_failures=5.")
    known = (*INSTALLATION_FIELDS, *GROUP_FLAGS)
    if name not in known:
        raise InputError(f"{name!r} is not a setting; settings: {', '.join(known)}.")
    if name == "login_strategy":
        return name, raw  # checked, with the choices named, by policy.changes
    if name in GROUP_FLAGS or (name in SETTING_FIELDS and is_flag(name)):
        if raw.lower() in TRUE_WORDS:
            return name, True
        if raw.lower() in FALSE_WORDS:
            return name, False
        raise InputError(f"{name}: {raw!r} is not true or false (yes/no, on/off, 1/0 work too).")
    if name == "reuse_blocked" and raw.lower() == "all":
        return name, -1
    try:
        return name, int(raw)
    except ValueError:
        raise InputError(f"{name}: {raw!r} is not a whole number.") from None


def _group_named(name: str) -> Group:
    from keystead.directory.models import Group

    group = Group.objects.filter(name__iexact=name.strip()).first()
    if group is None:
        known = ", ".join(Group.objects.order_by("name").values_list("name", flat=True)[:20])
        raise InputError(f"--group: no group named {name!r}" +
                         (f"; groups: {known}." if known else "; there are no groups yet."))
    return group


@policy.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--group", metavar="NAME",
              help="Change this group's policy instead (created from the installation's "
                   "values if it has none).")
@needs_django
def set_settings(assignments: tuple[str, ...], group: str | None) -> None:
    """Change settings of the installation's (or a group's) policy. Audited.

    Every value is checked before anything is written; if one is wrong,
    nothing changes and each problem is listed. `keystead policy show` lists
    the settings. reuse_blocked also takes `all`.

    \b
    Examples:
      keystead policy set max_failures=5 lock_minutes=30
      keystead policy set expire_days=0 screen_common=true
      keystead policy set min_strength=4
      keystead policy set --group Admins min_length=20 reuse_blocked=all
    """
    from keystead.directory.authorization import OPERATOR
    from keystead.directory.services import RuleViolation
    from keystead.policy import changes

    wanted: dict[str, Any] = {}
    for assignment in assignments:
        name, value = _parse(assignment)
        wanted[name] = value
    try:
        if group is None:
            saved, changed = changes.update_installation_policy(wanted, actor=OPERATOR,
                                                              door="cli")
            where, created = "the installation's policy", False
        else:
            target = _group_named(group)
            saved, created, changed = changes.save_group_policy(target, wanted, actor=OPERATOR,
                                                                door="cli")
            where = f"the policy of group {target.name}"
    except RuleViolation as violation:
        raise input_error(violation) from None
    if created:
        click.echo(f"Created {where}, starting from the installation's values.")
    if changed:
        listed = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in changed.items())
        click.echo(f"Changed in {where}: {listed}.")
    elif not created:
        click.echo(f"Nothing to change: {where} already has these values.")
    for advice in changes.setting_advice(changes.settings_of(saved)):
        click.echo(f"Note: {advice}")


@policy.command("remove-group")
@click.argument("name")
@needs_django
def remove_group(name: str) -> None:
    """Remove a group's own policy; its members get the installation's again. Audited.

    \b
    Example:
      keystead policy remove-group Admins
    """
    from keystead.directory.authorization import OPERATOR
    from keystead.policy import changes
    from keystead.policy.models import GroupPolicy

    group = _group_named(name)
    found = GroupPolicy.objects.filter(group=group).first()
    if found is None:
        raise InputError(f"Group {group.name} has no policy of its own; nothing to remove.")
    changes.delete_group_policy(found, actor=OPERATOR, door="cli")
    click.echo(f"Removed the policy of group {group.name}.")


# -- build-filter (old name) -------------------------------------------


@policy.command("build-filter", hidden=True)
@click.option("--from", "source", required=True, metavar="FILE",
              help="Passwords or SHA-1 HASH:COUNT lines; - reads standard input.")
@click.option("--out", "target", type=click.Path(dir_okay=False, path_type=Path),
              required=True, metavar="FILE", help="Where to write the filter.")
def build_filter(source: str, target: Path) -> None:
    """The old name of `keystead password-filter build FILE --output PATH`; kept so
    existing scripts keep working, hidden from the help so new ones use the new name."""
    from keystead.cli.password_filter import build_filter_file
    from keystead.policy.screening import FALSE_POSITIVE_RATE

    setup_django()
    if source != "-":
        path = Path(source)
        if not path.is_file():
            raise InputError(f"--from: {source} is not a file.")
        build_filter_file(path, target, FALSE_POSITIVE_RATE, 0)
        return
    # Two passes over the input size the filter, so standard input is kept in a file first.
    with tempfile.NamedTemporaryFile("wb", prefix="keystead-filter-") as spool:
        shutil.copyfileobj(click.get_binary_stream("stdin"), spool)
        spool.flush()
        build_filter_file(Path(spool.name), target, FALSE_POSITIVE_RATE, 0)
