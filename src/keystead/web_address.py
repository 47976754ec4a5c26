"""Where a browser may be sent: an absolute http or https address with a host.

Addresses that come from outside (a metadata document's endpoints, an enrolment token's
reset link) end up as a redirect, a form's action or a link people follow; a
``javascript:`` or ``file:`` address there would run or open something instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def is_web_address(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) address with a host name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 host, say
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)
