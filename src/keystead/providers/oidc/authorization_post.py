"""Authorization requests sent by POST (OpenID Connect Core §3.1.2.1), told apart from the
consent page's own answer, which is also a POST to the authorization endpoint.

An application may send the browser to the authorization endpoint with a form post
(``application/x-www-form-urlencoded``, the parameters a GET carries in its query).
Such a post comes from the application's site, so the browser sends it without the
session cookie (``SameSite=Lax``) and without a CSRF token: answered where it lands,
every person would look signed out, and Django's CSRF check would refuse it. It is
answered instead with ``303 See Other`` to the GET form of the same request (the
query and the body's parameters, repeated ones kept, in their order). That GET is a
top-level navigation, which carries the session cookie, and it is answered by the
one code path every authorization request takes: the same validation, refusals,
sign-in, consent and audit. Parameters that must never be in an address are refused
before that (the view's ``RefuseSecretsInQuery``).

The consent page's answer carries ``CONSENT_ANSWER`` (a hidden field of
``ConsentForm``), its CSRF token and, when given, the form's ``allow`` button;
none of them is an authorization parameter. A POST with any of them is the
consent answer and goes on to the toolkit's form handling, under Django's CSRF
check (an application's page cannot forge one: it has no token).
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponseRedirect, QueryDict
from oauth2_provider.forms import AllowForm

CONSENT_ANSWER = "keystead_consent"
# Fields only the consent page's form sends (Django's CSRF form field has this fixed
# name); a page rendered before the marker existed still sends its CSRF token.
_CONSENT_FIELDS = (CONSENT_ANSWER, "allow", "csrfmiddlewaretoken")
# The two encodings of an HTML form; Django reads both into ``request.POST``.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class ConsentForm(AllowForm):
    """The toolkit's consent form, plus the hidden field that marks its answer."""

    keystead_consent = forms.CharField(required=False, widget=forms.HiddenInput())


def is_consent_answer(request: HttpRequest) -> bool:
    """Whether a POST is the consent page's answer rather than an authorization request."""
    return any(name in request.POST for name in _CONSENT_FIELDS)


def unreadable_body(request: HttpRequest) -> bool:
    """Whether the body holds something that is not a form (JSON, say), which would be
    lost on the way to the GET form."""
    return request.content_type not in FORM_TYPES and bool(request.body)


def parameters(request: HttpRequest) -> QueryDict:
    """The request's parameters: the query's, then the body's (each value kept)."""
    merged = request.GET.copy()
    for name, values in request.POST.lists():
        merged.setlist(name, merged.getlist(name) + values)
    return merged


def as_get(request: HttpRequest, params: QueryDict) -> HttpResponseRedirect:
    """``303 See Other`` to the same request as a GET."""
    query = params.urlencode()
    return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path,
                                status=303)
