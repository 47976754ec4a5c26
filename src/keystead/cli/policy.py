"""``keystead policy``: show and change the logon policy; build an extra password filter.

Changes go through ``keystead.policy.changes``, like the admin console and the
REST API: the same checks with the same messages, and one audit event
(door ``cli``) listing every changed setting as ``[old, new]``.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from keystead.cli._common import InputError, console, input_error, needs_django, table, when

if TYPE_CHECKING:
    from keystead.directory.models import Group

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


@click.group()
def policy() -> None:
    """Logon policy: show it, change it, build an extra breached-password filter.

    The installation has one policy; a group can have a stricter one. For each
    rule a person gets the strictest value of the installation's policy and
    the policies of all their groups.
    """


# -- show ---------------------------------------------------------------


@policy.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@needs_django
def show(as_json: bool) -> None:
    """Show the installation's policy and every group policy, one column each.

    \b
    Examples:
      keystead policy show
      keystead policy show --json
    """
    from keystead.policy.changes import SETTING_FIELDS, describe_value, settings_of
    from keystead.policy.models import GroupPolicy, LogonPolicy

    site = LogonPolicy.current()
    groups = list(GroupPolicy.objects.select_related("group").order_by("group__name"))
    if as_json:
        click.echo(json.dumps({
            "installation": settings_of(site),
            "groups": {gp.group.name: settings_of(gp) for gp in groups},
        }, indent=2, ensure_ascii=False))
        return
    grid = table("Setting", "Installation", *(f"Group {gp.group.name}" for gp in groups))
    for name in SETTING_FIELDS:
        grid.add_row(name, describe_value(name, getattr(site, name)),
                     *(describe_value(name, getattr(gp, name)) for gp in groups))
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
      keystead policy set --group Admins min_length=20 reuse_blocked=all
    """
    from keystead.directory.services import RuleViolation
    from keystead.policy import changes

    wanted: dict[str, Any] = {}
    for assignment in assignments:
        name, value = _parse(assignment)
        wanted[name] = value
    try:
        if group is None:
            saved, changed = changes.update_installation_policy(wanted, door="cli")
            where, created = "the installation's policy", False
        else:
            target = _group_named(group)
            saved, created, changed = changes.save_group_policy(target, wanted, door="cli")
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
    from keystead.policy import changes
    from keystead.policy.models import GroupPolicy

    group = _group_named(name)
    found = GroupPolicy.objects.filter(group=group).first()
    if found is None:
        raise InputError(f"Group {group.name} has no policy of its own; nothing to remove.")
    changes.delete_group_policy(found, door="cli")
    click.echo(f"Removed the policy of group {group.name}.")


# -- build-filter -------------------------------------------------------


def _passwords(source: BinaryIO, skipped: list[int]) -> Any:
    """One password per line; lines that are not UTF-8 are counted and left out."""
    for number, line in enumerate(source, start=1):
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            skipped.append(number)
            continue
        yield unicodedata.normalize("NFKC", text)


@policy.command("build-filter")
@click.option("--from", "source", type=click.File("rb"), required=True, metavar="FILE",
              help="Passwords to refuse, one per line (UTF-8); - reads standard input.")
@click.option("--out", "target", type=click.Path(dir_okay=False, path_type=Path),
              required=True, metavar="FILE", help="Where to write the filter.")
def build_filter(source: BinaryIO, target: Path) -> None:
    """Build a filter of extra breached or forbidden passwords.

    Keystead always refuses the common passwords it ships with. Point
    KEYSTEAD_PASSWORD_FILTER at the file this writes and Keystead refuses the
    passwords in it as well (new passwords only; existing ones are not
    re-checked). The filter stores a few bits per password, never the
    passwords, and answers offline. A rebuilt file is picked up without a
    restart.

    \b
    Example:
      keystead policy build-filter --from breached.txt --out /srv/keystead/breached.ksbf
      KEYSTEAD_PASSWORD_FILTER=/srv/keystead/breached.ksbf keystead serve
    """
    from keystead.policy import screening

    skipped: list[int] = []
    entries = {p.strip().lower() for p in _passwords(source, skipped) if p.strip()}
    if not entries:
        raise InputError("--from: no passwords found (one per line, UTF-8).")
    bloom = screening.build(entries)
    data = bloom.dump()
    target = target.expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, delete=False,
                                         prefix=f".{target.name}.") as out:
            out.write(data)
        os.chmod(out.name, 0o644)
        os.replace(out.name, target)  # readers see the old file or the new one, never half
    except OSError as exc:
        raise InputError(f"--out: cannot write {target}: {exc.strerror or exc}.") from None
    size = f"{len(data):,} bytes" if len(data) < 10_240 else f"{len(data) // 1024:,} KiB"
    click.echo(f"Wrote {target}: {len(entries):,} passwords in {size} "
               f"(about 1 in {round(1 / screening.FALSE_POSITIVE_RATE):,} other passwords is "
               "refused by mistake).")
    if skipped:
        click.echo(f"Left out {len(skipped):,} lines that are not UTF-8 (first: line "
                   f"{skipped[0]}).")
    click.echo(f"To use it: KEYSTEAD_PASSWORD_FILTER={target} for every Keystead process. "
               "It is checked in addition to the built-in list.")

