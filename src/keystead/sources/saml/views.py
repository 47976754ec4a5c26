"""The SP's addresses: metadata for the IdP, the start of a sign-in, and the ACS.

The ACS receives a cross-site POST from the IdP, so it is exempt from CSRF
(the signed response, its InResponseTo and the one-time assertion id protect
it instead). The request it answers is remembered in a signed cookie of its
own rather than the session: a SameSite=Lax session cookie is not sent with
the IdP's cross-site POST, and this one is ``SameSite=None; Secure`` over HTTPS.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from keystead.portal.views import safe_next
from keystead.sources.saml import services, sp
from keystead.sources.saml.models import SamlSource

METADATA_TYPE = "application/samlmetadata+xml"


@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    """Keystead's signed SP metadata, to give the identity provider."""
    source = SamlSource.active()
    if source is None or not source.sp_private_key_encrypted:
        raise Http404("No SAML identity provider is configured.")
    response = HttpResponse(sp.metadata(source), content_type=METADATA_TYPE)
    response["Content-Disposition"] = 'inline; filename="keystead-sp-metadata.xml"'
    return response


@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """"Sign in with <IdP>": send the browser to the IdP with a signed AuthnRequest."""
    try:
        outgoing, cookie = services.start(request, safe_next(request))
    except services.NoSource as exc:
        raise Http404("No SAML identity provider is enabled.") from exc
    except sp.InvalidTicket:
        return invalid_ticket(request)
    if outgoing.redirect_to:
        response: HttpResponse = HttpResponseRedirect(outgoing.redirect_to)
    else:
        response = render(request, "saml_source/post_request.html", {
            "action": outgoing.post_to, "fields": outgoing.post_fields})
    response.set_cookie(services.REQUEST_COOKIE, cookie, max_age=services.REQUEST_MAX_AGE,
                        secure=request.is_secure(), httponly=True,
                        samesite="None" if request.is_secure() else "Lax",
                        path="/sources/saml/")
    return response


def invalid_ticket(request: HttpRequest) -> HttpResponse:
    return render(request, "saml_source/invalid_ticket.html", status=403)


@csrf_exempt
@require_POST
def acs(request: HttpRequest) -> HttpResponse:
    """The assertion consumer service (HTTP-POST binding)."""
    result = services.finish(request, request.POST.get("SAMLResponse", ""),
                             request.COOKIES.get(services.REQUEST_COOKIE),
                             safe_next(request))
    response = result if result is not None else invalid_ticket(request)
    response.delete_cookie(services.REQUEST_COOKIE, path="/sources/saml/")
    return response
