"""Fixtures for the ``keystead`` command: run it in-process against the test database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from keystead.cli import main

Run = Callable[..., Result]


@pytest.fixture
def cli() -> Run:
    """``cli("token", "list")`` runs ``keystead token list`` and returns click's Result.

    Unexpected exceptions propagate (catch_exceptions=False), so a traceback
    the user would have seen fails the test instead of hiding in the result.
    """
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        # Wide tables, whatever terminal or worker runs the tests, so values stay on one line.
        env = {"COLUMNS": "250", **(env or {})}
        return runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False)

    return run
