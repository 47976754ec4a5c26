"""``keystead password-filter``: build the breach filter screening uses, and test a password.

Keystead always refuses the common passwords it ships with and passwords
zxcvbn finds easy to guess. A breach corpus adds what attackers actually try
first: every password seen in a breach. Pwned Passwords publishes hundreds
of millions of them as SHA-1 hashes; ``build`` turns such a download (or a
plain list) into a compact offline filter that every Keystead process reads
through ``KEYSTEAD_PASSWORD_FILTER``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from keystead.cli._common import InputError, setup_django

if TYPE_CHECKING:
    from keystead.policy.screening import BloomFilter

DEFAULT_NAME = "password-filter.ksbf"


@click.group("password-filter")
def password_filter() -> None:
    """Breach filter: build it from a corpus such as Pwned Passwords, test a password.

    A password is refused if it is in the built-in list of common passwords
    or in this filter (and the policy's screen_common is on).
    """


def _default_output() -> Path:
    """Where the filter is written when --output is not given: the configured filter,
    so a rebuild replaces what screening reads, else ``<data dir>/password-filter.ksbf``."""
    from django.conf import settings

    return Path(settings.PASSWORD_FILTER_FILE or settings.DATA_DIR / DEFAULT_NAME)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= 10 * scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def one_in(rate: float) -> str:
    """A false-positive rate as people read it: "1 in 10,000"."""
    return f"1 in {round(1 / rate):,}" if rate > 0 else "none"


def _rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 1e-9 <= value <= 0.1:
        raise click.BadParameter(
            f"{value} is out of range; give a chance between 0.000000001 and 0.1, e.g. 0.0001 "
            "(1 in 10,000 unlisted passwords refused by mistake).", ctx, param)
    return value


def build_filter_file(source: Path, output: Path, rate: float, min_count: int) -> None:
    """Build, write and report; shared by ``password-filter build`` and the old name."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from keystead.policy import screening

    total = source.stat().st_size
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True, highlight=False, markup=False))
    tasks = {"count": progress.add_task("Counting entries", total=total),
             "build": progress.add_task("Building filter ", total=total, start=False)}

    def advance(phase: str, done: int) -> None:
        if phase == "build" and not progress.tasks[tasks["build"]].started:
            progress.update(tasks["count"], completed=total)
            progress.start_task(tasks["build"])
        progress.update(tasks[phase], completed=done)

    try:
        with progress:
            bloom, fmt, stats = screening.build_from_corpus(
                source, rate=rate, min_count=min_count, progress=advance)
    except ValueError as exc:
        raise InputError(f"FILE: {source}: {exc}.") from None
    except OSError as exc:
        raise InputError(f"FILE: cannot read {source}: {exc.strerror or exc}.") from None
    if not stats.entries:
        what = ("no hash reaches --min-count" if stats.below_min_count
                else "no passwords or SHA-1 hashes found")
        raise InputError(f"FILE: {source}: {what} (one per line: a password, or HASH:COUNT "
                         "as Pwned Passwords publishes them).")
    target = output.expanduser().resolve()
    try:
        written = bloom.write(target)
    except OSError as exc:
        raise InputError(f"--output: cannot write {target}: {exc.strerror or exc}.") from None
    kind = "SHA-1 hashes" if fmt == "sha1" else "passwords"
    click.echo(f"Wrote {target}: {stats.entries:,} {kind} in {_size(written)} "
               f"({bloom.hash_count} hashes per entry; about {one_in(bloom.false_positive_rate())} "
               "unlisted passwords is refused by mistake).")
    if stats.below_min_count:
        click.echo(f"Left out {stats.below_min_count:,} hashes seen fewer than {min_count} "
                   "times (--min-count).")
    if stats.malformed:
        click.echo(f"Left out {stats.malformed:,} lines that are not HASH:COUNT (first: line "
                   f"{stats.first_malformed}).")
    if stats.not_utf8:
        click.echo(f"Left out {stats.not_utf8:,} lines that are not UTF-8 (first: line "
                   f"{stats.first_not_utf8}).")
    click.echo(f"To use it: KEYSTEAD_PASSWORD_FILTER={target} for every Keystead process "
               "(a rebuilt file is picked up without a restart). It is checked in addition "
               "to the built-in list; `keystead check` shows it.")


@password_filter.command("build")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Where to write the filter [default: KEYSTEAD_PASSWORD_FILTER if set, "
                   "else password-filter.ksbf in the data directory].")
@click.option("--false-positive-rate", "rate", type=float, default=1e-4, show_default=True,
              callback=_rate, metavar="R",
              help="Chance that an unlisted password is refused by mistake. Each tenfold "
                   "drop costs about 4.8 bits per entry.")
@click.option("--min-count", type=click.IntRange(min=0), default=0, metavar="N",
              help="With HASH:COUNT lines, keep only hashes seen at least N times in "
                   "breaches: a much smaller filter of the passwords tried first.")
def build(file: Path, output: Path | None, rate: float, min_count: int) -> None:
    """Build the breach filter from FILE, with a progress bar.

    FILE is a Pwned Passwords download (SHA-1 `HASH:COUNT` lines, or bare
    hashes; the NTLM edition cannot be used) or a plain list of passwords,
    one per line in UTF-8; which one is detected from the first lines. A
    plain list is compared without regard to case; hashes match the
    password as typed and in lower case.

    The filter holds about 19 bits per entry at the default rate (the full
    Pwned Passwords corpus of some 900 million hashes: about 2 GiB; building
    needs that much memory and takes roughly an hour on one core). It never
    holds passwords or hashes.

    \b
    Examples:
      keystead password-filter build pwnedpasswords.txt -o /srv/keystead/breached.ksbf
      keystead password-filter build pwnedpasswords.txt --min-count 10 \\
          --false-positive-rate 0.001
      KEYSTEAD_PASSWORD_FILTER=/srv/keystead/breached.ksbf keystead serve
    """
    setup_django()
    build_filter_file(file, output or _default_output(), rate, min_count)


def _open(path: str) -> BloomFilter:
    from keystead.policy.screening import BloomFilter

    try:
        return BloomFilter.open(path)
    except OSError as exc:
        raise InputError(f"--filter: cannot read {path}: {exc.strerror or exc}.") from None
    except ValueError as exc:
        raise InputError(f"--filter: {path}: {exc}.") from None


@password_filter.command("check")
@click.option("--filter", "path", metavar="PATH",
              help="The filter to ask [default: KEYSTEAD_PASSWORD_FILTER].")
def check(path: str | None) -> None:
    """Ask whether a password is listed; it is typed at a hidden prompt.

    Says whether the breach filter and the built-in list hold it and how
    zxcvbn scores it. Exit status 1 if a list holds it, so scripts can ask.
    The password is not stored, logged or echoed.
    """
    setup_django()
    from django.conf import settings

    from keystead.policy import rules, screening

    path = path or settings.PASSWORD_FILTER_FILE or None
    bloom = _open(path) if path else None
    password = rules.normalize(click.prompt("Password", hide_input=True))
    if not password:
        raise InputError("the password is empty; type the password to look up.")
    listed = False
    if bloom is None:
        click.echo("Breach filter: not configured (set KEYSTEAD_PASSWORD_FILTER, or pass "
                   "--filter PATH).")
    elif screening.in_filter(bloom, password):
        listed = True
        click.echo(f"Breach filter {path}: listed (or one of the about "
                   f"{one_in(bloom.false_positive_rate())} unlisted passwords that match by "
                   "chance).")
    else:
        click.echo(f"Breach filter {path}: not listed.")
    builtin = screening.normalise_listed(password) in screening.builtin_list()
    listed = listed or builtin
    click.echo(f"Built-in list of common passwords: {'listed' if builtin else 'not listed'}.")
    verdict = rules.strength(password)
    score = int(verdict["score"])
    guesses = max(float(verdict["guesses"]), 1.0)
    click.echo(f"Strength (zxcvbn): {score} of {rules.MAX_STRENGTH}, about 10^"
               f"{math.floor(math.log10(guesses))} guesses"
               + (f" (first {rules.GUESS_INPUT_LIMIT} characters)"
                  if len(password) > rules.GUESS_INPUT_LIMIT else "") + ".")
    if listed:
        raise SystemExit(1)
