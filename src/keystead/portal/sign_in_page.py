"""The sign-in page's HTML, rendered once per process and filled in for each request.

Every password sign-in through a browser loads this page first, and rendering
it through the template engine cost almost as much CPU as the whole password
check apart from argon2 (about 3.7 M instructions against 4.6 M for the POST,
measured with callgrind). Between two plain GETs only three things change: the
CSRF token, ``next``, and the email an OpenID Connect ``login_hint`` fills in.
So the template is rendered once per shape (with or without an email) with
markers in those places, and each request replaces the markers with its own
values, HTML-escaped as the template would escape them, in one pass (a value
can never be mistaken for a marker).

Only the plain GET uses it: with messages to show, form errors, or
``KEYSTEAD_DEBUG`` (templates may change while the server runs), the view
renders the template. A test renders both ways and compares them.
"""

from __future__ import annotations

import re

from django.template.loader import render_to_string
from django.utils.html import escape

from keystead.portal.forms import SignInForm

TEMPLATE = "portal/sign_in.html"
# Letters and digits only, so escaping leaves them as they are.
_CSRF, _NEXT, _EMAIL = "ksMarkCsrf7q", "ksMarkNext7q", "ksMarkEmail7q"
_MARKERS = re.compile(f"{_CSRF}|{_NEXT}|{_EMAIL}")
_shapes: dict[bool, str] = {}  # with an email or not: the page with its markers


def html(csrf_token: str, next_url: str, email: str) -> str:
    """The page for one request: its (masked) CSRF token, ``next`` and suggested email."""
    shape = _shapes.get(bool(email))
    if shape is None:
        shape = _shapes[bool(email)] = _render(with_email=bool(email))
    values = {_CSRF: escape(csrf_token), _NEXT: escape(next_url), _EMAIL: escape(email)}
    return _MARKERS.sub(lambda found: values[found.group(0)], shape)


def _render(*, with_email: bool) -> str:
    form = SignInForm(initial={"username": _EMAIL} if with_email else None)
    return render_to_string(TEMPLATE, {"form": form, "next": _NEXT, "csrf_token": _CSRF,
                                       "messages": ()})
