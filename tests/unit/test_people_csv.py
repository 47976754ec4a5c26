"""Reading people from CSV and writing export cells: pure, no database."""

from __future__ import annotations

import pytest

from keystead.directory import people_csv
from keystead.directory.people_csv import Problem, Taken, read


def csv_bytes(*lines: str, bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n").encode()


def where(reading) -> list[tuple[int | None, str]]:
    return [(p.line, p.column) for p in reading.problems]


def test_a_good_file_gives_every_row_and_no_problem():
    reading = read(csv_bytes(
        "email,username,given_name,family_name,external_id,active",
        "Ada@Example.com,ada,Ada,Lovelace,E1,yes",
        "grace@example.com,,Grace,Hopper,,no",
    ))
    assert reading.problems == []
    assert reading.ok
    ada, grace = reading.rows
    assert (ada.line, ada.email, ada.username, ada.external_id, ada.active) == (
        2, "Ada@Example.com", "ada", "E1", True)
    assert ada.values() == {"email": "Ada@Example.com", "username": "ada", "given_name": "Ada",
                            "family_name": "Lovelace", "external_id": "E1", "is_active": True}
    assert "username" not in grace.values()  # the service defaults it to the email
    assert grace.active is False


def test_bom_semicolons_friendly_headers_any_order_and_blank_lines():
    reading = read(csv_bytes(
        "Last name ; First Name;E-mail;Login",
        "",
        "Lovelace; Ada ;ada@example.com;ada",
        bom=True,
    ))
    assert reading.problems == []
    row = reading.rows[0]
    assert (row.line, row.given_name, row.family_name, row.email, row.username) == (
        3, "Ada", "Lovelace", "ada@example.com", "ada")
    assert reading.header("given_name") == "First Name"


def test_quoted_values_may_hold_separators_quotes_and_line_breaks():
    reading = read(csv_bytes(
        'email,given_name,family_name',
        '"ada@example.com","Ada, Countess","Lovelace ""Byron"""',
        'bob@example.com,"Bob',
        'Robert",Smith',
        'carol@example.com,Carol,',
    ))
    assert [(r.line, r.given_name) for r in reading.rows] == [
        (2, "Ada, Countess"), (3, "Bob\r\nRobert"), (5, "Carol")]
    assert reading.rows[0].family_name == 'Lovelace "Byron"'
    # The multi-line record is line 3; the next starts on line 5 and lacks a family name.
    assert where(reading) == [(5, "family_name")]


def test_every_problem_is_reported_by_line_and_column_at_once():
    reading = read(csv_bytes(
        "email,username,First name,Last name,external_id,active",
        "not-an-email,ok,Ada,Lovelace,,yes",   # 2: email
        "bob@example.com,,,Smith,,maybe",      # 3: given name, active
        "carol@example.com, ,Carol,,,",        # 4: family name (a blank user name is fine)
        "dan@example.com,d\tan,Dan,Brown,,",   # 5: user name with a tab
        f"eve@example.com,,Eve,Ng,{'x' * 256},",  # 6: external id too long
    ))
    assert where(reading) == [
        (2, "email"), (3, "First name"), (3, "active"), (4, "Last name"), (5, "username"),
        (6, "external_id")]
    assert not reading.ok
    messages = {(p.line, p.column): p.message for p in reading.problems}
    assert messages[(3, "First name")].startswith("Given name is required")
    assert "'maybe' is not yes or no" in messages[(3, "active")]
    assert "at most 255" in messages[(6, "external_id")]
    assert str(reading.problems[0]).startswith("Line 2, column 'email': Email 'not-an-email'")


def test_header_problems_unknown_missing_duplicate_and_password_columns():
    reading = read(csv_bytes(
        "Email,Given name,first name,Department,Password",
        "ada@example.com,Ada,Ada,Maths,Sekrit-Value-123",
    ))
    assert where(reading) == [
        (1, "first name"), (1, "Department"), (1, "Password"), (1, "family_name")]
    messages = " ".join(p.message for p in reading.problems)
    assert "The family_name column is missing" in messages
    assert "both give the given_name" in messages
    assert "Unknown column 'Department'" in messages
    assert "Passwords are not imported" in messages
    # The password's value is never kept, so no preview or message can show it.
    assert "Sekrit" not in repr(reading)


def test_duplicates_inside_the_file_in_any_case_and_across_email_and_user_name():
    reading = read(csv_bytes(
        "email,username,given_name,family_name,external_id",
        "ada@example.com,ada,Ada,Lovelace,E1",
        "ADA@example.com,,Ada,Again,E2",            # 3: same email
        "bob@example.com,Ada,Bob,Smith,E3",         # 4: user name = line 2's user name
        "carol@example.com,bob@EXAMPLE.com,Carol,Ng,E1",  # 5: user name = email; external id
    ))
    assert where(reading) == [(3, "email"), (4, "username"), (5, "username"),
                              (5, "external_id")]
    messages = [p.message for p in reading.problems]
    assert messages[0].startswith("'ada@example.com' is already the email on line 2")
    assert messages[1].startswith("'ada' is already the user name on line 2")
    assert messages[2].startswith("'bob@example.com' is already the email on line 4")
    assert "External id 'E1' is already on line 2" in messages[3]


def test_conflicts_with_existing_people_are_problems_not_updates():
    reading = read(csv_bytes(
        "email,username,given_name,family_name,external_id",
        "ada@example.com,,Ada,Lovelace,",
        "bob@example.com,grace,Bob,Smith,",
        "carol@example.com,,Carol,Ng,HR-7",
        "dan@example.com,,Dan,Brown,",
    ))
    taken = Taken(sign_in_names=frozenset({"ada@example.com", "grace"}),
                  external_ids=frozenset({"HR-7"}))
    problems = people_csv.conflicts(reading, taken)
    assert [(p.line, p.column) for p in problems] == [
        (2, "email"), (3, "username"), (4, "external_id")]
    assert all("An import only creates people" in p.message for p in problems)


def test_file_level_problems():
    assert where(read(b"")) == [(None, "")]
    assert "empty" in read(b"  \n").problems[0].message
    assert "holds no people" in read(b"email,given_name,family_name\n").problems[0].message
    assert "UTF-16" in read("email\n".encode("utf-16")).problems[0].message
    latin1 = "email,given_name,family_name\nz@example.com,Zoë,Ng\n".encode("latin-1")
    assert where(read(latin1)) == [(2, "")]
    assert "not UTF-8" in read(latin1).problems[0].message


def test_size_limits_in_bytes_and_rows(monkeypatch):
    big = b"x" * (people_csv.MAX_BYTES + 1)
    assert "at most 1,024 KiB" in read(big).problems[0].message
    monkeypatch.setattr(people_csv, "MAX_ROWS", 3)
    lines = ["email,given_name,family_name",
             *(f"p{i}@example.com,P,{i}" for i in range(4))]
    reading = read(csv_bytes(*lines))
    assert where(reading) == [(None, "")]
    assert "more than 3 people" in reading.problems[0].message
    assert read(csv_bytes(*lines[:4])).ok


def test_broken_quoting_is_reported_on_the_line_it_starts():
    reading = read(csv_bytes(
        "email,given_name,family_name",
        "ada@example.com,Ada,Lovelace",
        'bob@example.com,"Bob,Smith',
        "carol@example.com,Carol,Ng",
    ))
    assert where(reading) == [(3, "")]
    assert "cannot be read as CSV" in reading.problems[0].message


def test_extra_values_and_values_in_an_unnamed_column():
    reading = read(csv_bytes(
        "email,given_name,family_name,",
        "ada@example.com,Ada,Lovelace,",          # an empty unnamed column is fine
        "bob@example.com,Bob,Smith,oops",         # 3: value in the unnamed column
        "carol@example.com,Carol,Ng,,Smith, Jr",  # 4: more values than columns
    ))
    assert where(reading) == [(3, ""), (4, "")]
    assert "Column 4 has a value but no name" in reading.problems[0].message
    assert "has 6 values but the header names 4" in reading.problems[1].message


@pytest.mark.parametrize("value", [
    "=1+1", "+31 20", "-Smith", "@SUM(A1)", "\tx", "\rx", "'=x", "''-x", "'t Hart", "O'Brien",
    "plain", "", "'", "=",
])
def test_neutralise_is_reversible_for_every_value(value):
    marked = people_csv.neutralise(value)
    assert people_csv.restore(marked) == value
    assert marked[:1] not in people_csv.FORMULA_START


def test_export_cells_are_safe_in_a_spreadsheet_and_read_back_unchanged():
    cells = people_csv.export_cells("ada@example.com", "=HYPERLINK(\"http://x\")", "-Ada",
                                    "@Lovelace", "+E1", False)
    assert cells == ["ada@example.com", "'=HYPERLINK(\"http://x\")", "'-Ada", "'@Lovelace",
                     "'+E1", "no"]
    import csv
    import io
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(people_csv.COLUMNS)
    writer.writerow(cells)
    row = read(out.getvalue().encode()).rows[0]
    assert (row.username, row.given_name, row.family_name, row.external_id, row.active) == (
        "=HYPERLINK(\"http://x\")", "-Ada", "@Lovelace", "+E1", False)


def test_problem_text_names_line_and_column():
    assert str(Problem(4, "Email", "bad")) == "Line 4, column 'Email': bad"
    assert str(Problem(4, "", "bad")) == "Line 4: bad"
    assert str(Problem(None, "", "bad")) == "File: bad"
