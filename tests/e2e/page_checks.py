"""Checks a browser test runs on any page: accessibility by axe-core, and which hosts the
page asked for anything.

axe-core is the npm package ``make test-deps`` installs under var/axe. It is run
through Playwright's evaluate, which the page's content security policy does not
govern, so the page is checked exactly as it is served.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

AXE = Path(__file__).resolve().parents[2] / "var/axe/node_modules/axe-core/axe.min.js"
#: The impacts that fail a page; "moderate" and "minor" are reported by axe but allowed.
FAILING_IMPACTS = frozenset({"serious", "critical"})


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} not found: `make test-deps` installs axe-core.")
    return AXE.read_text()


def accessibility_problems(page, source: str) -> list[str]:
    """axe-core's serious and critical violations on the page now, one line each."""
    page.evaluate(source)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['impact']}: {violation['id']} ({violation['help']}) at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        for violation in result["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]


class ForeignRequests:
    """Every request a page makes to a host other than the one under test."""

    def __init__(self, page, base_url: str) -> None:
        self.own = urlsplit(base_url).netloc
        self.seen: list[str] = []
        page.on("request", self._note)

    def _note(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != self.own:
            self.seen.append(request.url)
