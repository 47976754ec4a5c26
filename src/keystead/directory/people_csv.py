"""People as CSV: reading a file for a bulk import, writing cells for an export.

Pure functions over bytes and plain values, with no database, so every rule
of the file format is tested on its own and the console only adds what needs
the database (people who already exist) and the writing, which goes through
``directory.services`` like every other door.

The format
----------
- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one).
- Comma or semicolon separated: whichever occurs more often on the header line
  (spreadsheets in many European locales write semicolons).
- The first non-blank line names the columns. Header names are matched
  ignoring case, spaces, ``_`` and ``-``; ``HEADER_ALIASES`` lists the
  friendly names accepted besides the column names. Columns may come in any
  order; ``email``, ``given_name`` and ``family_name`` are required.
- Surrounding spaces are removed from every cell; blank lines are skipped.
- ``username`` left empty means "the email", as everywhere in Keystead.
- ``active`` is yes/no, true/false, 1/0 (empty: yes).
- A cell that ``neutralise`` marked on export (a leading ``'`` before ``=``,
  ``+``, ``-``, ``@``, tab or carriage return) is read back without the mark,
  so an exported file imports unchanged.

Import only creates people. A row naming someone who already exists (by
email, user name or external id) is a problem to fix, not an update: updating
silently from a file is how a typo overwrites the wrong person, and the
person's page or the API is the door for changes.

A password column is refused, not ignored: passwords in a spreadsheet are a
leak waiting to happen, and an ignored column would let the administrator
believe people got the passwords it holds. Imported people have no password;
each sets one through the reset link. The column's values are dropped as soon
as it is recognised, so no problem message or preview ever shows them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keystead.directory.rules import normalize_email, person_problems, username_problems
from keystead.json_text import problem_text, unstorable

#: Largest file read (1 MiB is about 10,000 typical rows; the row limit comes first).
MAX_BYTES = 1024 * 1024
#: Most people in one file. One import is one transaction in one web request, each
#: person created through the services, so the request must end well inside a
#: proxy's timeout; bigger sets are split into several files.
MAX_ROWS = 1000
MAX_EXTERNAL_ID_LENGTH = 255

#: The columns, in the order an export writes them.
COLUMNS = ("email", "username", "given_name", "family_name", "external_id", "active")
REQUIRED = ("email", "given_name", "family_name")

#: Accepted header names, compared after ``header_key`` (lower case, no spaces/_/-).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "email address", "e-mail", "mail"),
    "username": ("username", "user name", "login", "login name", "sign-in name"),
    "given_name": ("given_name", "given name", "first name", "forename"),
    "family_name": ("family_name", "family name", "last name", "surname"),
    "external_id": ("external_id", "external id"),
    "active": ("active", "is_active", "enabled"),
}
_TRUE = frozenset({"", "yes", "y", "true", "t", "1", "active", "enabled"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "inactive", "disabled"})
#: First characters a spreadsheet treats as the start of a formula (OWASP's list).
FORMULA_START = frozenset("=+-@\t\r")


def header_key(header: str) -> str:
    """How a header is compared: case, spaces, ``_`` and ``-`` do not matter."""
    return re.sub(r"[\s_\-]", "", header.casefold())


_COLUMN_OF = {header_key(alias): column
              for column, aliases in HEADER_ALIASES.items() for alias in aliases}


def _is_password_header(key: str) -> bool:
    return "password" in key or "passwd" in key or key in {"pwd", "pass", "secret"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, column as the file names it) and what.

    ``line`` None means the whole file; ``column`` "" means the whole line.
    """

    line: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = "File" if self.line is None else f"Line {self.line}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class PersonRow:
    """One data line, cleaned: spaces trimmed, the export's formula marks removed."""

    line: int
    email: str
    username: str  # "" means: the email
    given_name: str
    family_name: str
    external_id: str
    active: bool

    @property
    def sign_in_names(self) -> frozenset[str]:
        """The names the person will sign in with, compared regardless of case."""
        names = {normalize_email(self.email)} if self.email else set()
        if self.username:
            names.add(self.username.lower())
        return frozenset(names)

    def values(self) -> dict[str, Any]:
        """What ``services.create_user`` takes (a missing user name defaults to the email)."""
        values: dict[str, Any] = {
            "email": self.email, "given_name": self.given_name,
            "family_name": self.family_name, "external_id": self.external_id,
            "is_active": self.active,
        }
        if self.username:
            values["username"] = self.username
        return values


@dataclass(frozen=True)
class Taken:
    """What existing people already use: lower-cased emails and user names (one
    sign-in namespace), and external ids (exact)."""

    sign_in_names: frozenset[str] = frozenset()
    external_ids: frozenset[str] = frozenset()


@dataclass
class Reading:
    """A file read: every data row, every problem, and the header each column had."""

    rows: list[PersonRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column -> header as written

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)

    def header(self, column: str) -> str:
        """The file's own name for ``column`` (a column or a person field name)."""
        column = "active" if column == "is_active" else column
        return self.headers.get(column, column)

    def problems_by_line(self) -> dict[int | None, list[Problem]]:
        by_line: dict[int | None, list[Problem]] = {}
        for problem in self.problems:
            by_line.setdefault(problem.line, []).append(problem)
        return by_line

    def adding(self, problems: Iterable[Problem]) -> Reading:
        """This reading with ``problems`` added, all kept in line order."""
        unique = dict.fromkeys([*self.problems, *problems])  # in the order found
        merged = sorted(unique, key=lambda p: (p.line or 0, self._column_rank(p.column)))
        return Reading(rows=self.rows, problems=merged, headers=self.headers)

    def _column_rank(self, header: str) -> int:
        order = list(self.headers.values())
        return order.index(header) if header in order else -1


# -- reading ------------------------------------------------------------------


def read(data: bytes) -> Reading:
    """Read a whole file: every row it holds and every problem in it, at once."""
    if len(data) > MAX_BYTES:
        return Reading(problems=[Problem(None, "", too_large_message(len(data)))])
    text, problem = _decode(data)
    if problem is not None:
        return Reading(problems=[problem])
    if not text.strip():
        return Reading(problems=[Problem(None, "", "The file is empty. Its first line must "
                                         "name the columns, e.g. email,given_name,family_name; "
                                         "one person per line follows.")])
    records = _Records(text, _separator(text))
    reading = Reading()
    try:
        header_line, header = records.next()
        _read_rows(records, _read_header(header, header_line, reading), reading)
    except StopIteration:
        pass  # only blank lines: reported below
    except csv.Error as exc:
        reading.problems.append(Problem(records.start, "", (
            f"The line cannot be read as CSV ({exc}); nothing after it was read. A value "
            "that contains the separator, a quote or a line break must be wrapped in double "
            "quotes, with any quote inside it doubled (\"\").")))
    except _TooManyRows:
        return Reading(headers=reading.headers, problems=[Problem(None, "", (
            f"The file holds more than {MAX_ROWS:,} people, the most one import takes; split "
            f"it into files of at most {MAX_ROWS:,} rows, each with the header line."))])
    if not reading.rows and not reading.problems:
        reading.problems.append(Problem(None, "", "The file names its columns but holds no "
                                        "people: add one person per line below the header."))
    return reading.adding(_duplicate_problems(reading))


def too_large_message(size: int) -> str:
    return (f"The file is {size / 1024:,.0f} KiB; one import reads at most "
            f"{MAX_BYTES // 1024:,} KiB. Split it into smaller files, each with the header line.")


def _decode(data: bytes) -> tuple[str, Problem | None]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "", Problem(None, "", "The file is UTF-16 text; save it as UTF-8 instead (in "
                                     "Excel: Save As, \"CSV UTF-8 (Comma delimited)\").")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return "", Problem(line, "", "This line is not UTF-8 text. Save the file as UTF-8 (in "
                                     "Excel: Save As, \"CSV UTF-8 (Comma delimited)\").")


def _separator(text: str) -> str:
    """Semicolon if the header line has more semicolons than commas, else comma."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


class _TooManyRows(Exception):
    pass


class _Records:
    """Non-blank CSV records with the line each starts on (a quoted value may span lines)."""

    def __init__(self, text: str, separator: str) -> None:
        self._reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator,
                                  strict=True)
        self.start = 1

    def next(self) -> tuple[int, list[str]]:
        """The next non-blank record and its first line; StopIteration at the end."""
        while True:
            self.start = self._reader.line_num + 1
            record = next(self._reader)
            if any(cell.strip() for cell in record):
                return self.start, record


@dataclass
class _Layout:
    """Where each column sits on a line; ``unnamed``: positions with an empty header."""

    columns: dict[int, str]
    unnamed: set[int]
    width: int


def _read_header(header: Sequence[str], line: int, reading: Reading) -> _Layout:
    """The columns the header names; header problems go to ``reading``."""
    layout = _Layout(columns={}, unnamed=set(), width=len(header))
    seen: dict[str, str] = {}
    for position, raw in enumerate(header):
        name = raw.strip()
        key = header_key(name)
        if not key:
            layout.unnamed.add(position)  # spreadsheets add unnamed empty columns
            continue
        if _is_password_header(key):
            reading.problems.append(Problem(line, name, (
                "Passwords are not imported: delete this column. Imported people get no "
                "password; each sets their own through the \"Forgot your password?\" link.")))
            continue
        column = _COLUMN_OF.get(key)
        if column is None:
            reading.problems.append(Problem(line, name, (
                f"Unknown column {name!r}. The columns are {', '.join(COLUMNS)} (also "
                "accepted: \"first name\", \"last name\", \"user name\" and similar); rename "
                "this column or delete it.")))
            continue
        if column in seen:
            reading.problems.append(Problem(line, name, (
                f"Columns {seen[column]!r} and {name!r} both give the {column}; keep one.")))
            continue
        seen[column] = name
        layout.columns[position] = column
        reading.headers[column] = name
    for column in REQUIRED:
        if column not in seen:
            friendly = HEADER_ALIASES[column][2]
            reading.problems.append(Problem(line, column, (
                f"The {column} column is missing: every person needs one. Add a column named "
                f"{column} (or {friendly!r}).")))
    return layout


def _read_rows(records: _Records, layout: _Layout, reading: Reading) -> None:
    """Every data line into ``reading``: its row and its problems. Values of a missing
    column are not reported line by line: the header's problem says it once."""
    while True:
        try:
            line, record = records.next()
        except StopIteration:
            return
        if len(reading.rows) >= MAX_ROWS:
            raise _TooManyRows
        # Only the named columns' values are kept: a refused password column's never are.
        cells = {column: restore(record[pos].strip()) if pos < len(record) else ""
                 for pos, column in layout.columns.items()}
        unstorable_cells = [column for column, value in cells.items() if unstorable(value)]
        if unstorable_cells:  # not even looked up: no column can hold such a value
            reading.problems.extend(
                Problem(line, reading.header(column), problem_text("This value"))
                for column in unstorable_cells)
            continue
        row = PersonRow(
            line=line, email=cells.get("email", ""), username=cells.get("username", ""),
            given_name=cells.get("given_name", ""), family_name=cells.get("family_name", ""),
            external_id=cells.get("external_id", ""),
            active=cells.get("active", "").casefold() not in _FALSE,
        )
        reading.rows.append(row)
        extra = [pos for pos in range(layout.width, len(record)) if record[pos].strip()]
        if extra:
            reading.problems.append(Problem(line, "", (
                f"This line has {len(record)} values but the header names {layout.width} "
                "columns. A value that contains the separator must be wrapped in double "
                "quotes.")))
            continue
        reading.problems.extend(
            Problem(line, "", f"Column {pos + 1} has a value but no name on the header line; "
                              "name the column or delete it.")
            for pos in sorted(layout.unnamed) if pos < len(record) and record[pos].strip())
        reading.problems.extend(_row_problems(row, cells, reading))


def _row_problems(row: PersonRow, cells: dict[str, str], reading: Reading) -> list[Problem]:
    problems = [
        Problem(row.line, reading.header(p.field), p.message)
        for p in person_problems(email=row.email, given_name=row.given_name,
                                 family_name=row.family_name)
        if p.field in reading.headers
    ]
    if row.username:
        problems += [Problem(row.line, reading.header("username"), p.message)
                     for p in username_problems(row.username)]
    if len(row.external_id) > MAX_EXTERNAL_ID_LENGTH:
        problems.append(Problem(row.line, reading.header("external_id"), (
            f"External id must be at most {MAX_EXTERNAL_ID_LENGTH} characters.")))
    active = cells.get("active", "").casefold()
    if active not in _TRUE and active not in _FALSE:
        problems.append(Problem(row.line, reading.header("active"), (
            f"{cells['active']!r} is not yes or no: write yes, no, true, false, 1 or 0 "
            "(empty means yes).")))
    return problems


def _duplicate_problems(reading: Reading) -> list[Problem]:
    """Rows that would collide with an earlier row of the same file."""
    problems: list[Problem] = []
    names: dict[str, tuple[int, str]] = {}  # sign-in name -> (line, "email"/"user name")
    external_ids: dict[str, int] = {}
    for row in reading.rows:
        email = normalize_email(row.email)
        own = [("email", email)] if email else []
        if row.username and row.username.lower() != email:
            own.append(("username", row.username.lower()))
        for column, name in own:
            if name in names:
                line, kind = names[name]
                problems.append(Problem(row.line, reading.header(column), (
                    f"{name!r} is already the {kind} on line {line}. Emails and user names "
                    "must differ from every other person's, in any letter case.")))
        for column, name in own:
            names.setdefault(name, (row.line, "email" if column == "email" else "user name"))
        if row.external_id:
            if row.external_id in external_ids:
                problems.append(Problem(row.line, reading.header("external_id"), (
                    f"External id {row.external_id!r} is already on line "
                    f"{external_ids[row.external_id]}; each person needs their own.")))
            external_ids.setdefault(row.external_id, row.line)
    return problems


def conflicts(reading: Reading, taken: Taken) -> list[Problem]:
    """Rows naming someone who already exists; an import only creates people."""
    problems: list[Problem] = []
    fix = ("An import only creates people: remove this row, or change the existing person on "
           "their page.")
    for row in reading.rows:
        email = normalize_email(row.email)
        if email and email in taken.sign_in_names:
            problems.append(Problem(row.line, reading.header("email"), (
                f"A person with the email or user name {email!r} already exists. {fix}")))
        username = row.username.lower()
        if username and username != email and username in taken.sign_in_names:
            problems.append(Problem(row.line, reading.header("username"), (
                f"A person with the user name or email {row.username!r} already exists. {fix}")))
        if row.external_id and row.external_id in taken.external_ids:
            problems.append(Problem(row.line, reading.header("external_id"), (
                f"A person with the external id {row.external_id!r} already exists. {fix}")))
    return problems


# -- writing ------------------------------------------------------------------


def _looks_like_formula(value: str) -> bool:
    """Starts with a formula character, possibly behind apostrophes (so marking is
    reversible for every value, even one that begins with an apostrophe)."""
    stripped = value.lstrip("'")
    return bool(stripped) and stripped[0] in FORMULA_START


def neutralise(value: str) -> str:
    """A cell a spreadsheet shows as text: ``'`` before a leading =, +, -, @, tab or CR."""
    return "'" + value if _looks_like_formula(value) else value


def restore(value: str) -> str:
    """Undo ``neutralise``: ``restore(neutralise(v)) == v`` for every ``v``."""
    return value[1:] if value.startswith("'") and _looks_like_formula(value[1:]) else value


def export_cells(email: str, username: str, given_name: str, family_name: str,
                 external_id: str, active: bool) -> list[str]:
    """One person's line of an export, in ``COLUMNS`` order, safe to open in a spreadsheet."""
    return [neutralise(v) for v in (email, username, given_name, family_name, external_id,
                                    "yes" if active else "no")]
