"""How Keystead's SAML messages leave through the browser: an auto-posting form
(HTTP-POST) or a redirect (HTTP-Redirect).

One place for both, because sign-in answers, logout answers and the logout requests
Keystead passes on to other applications all go out these two ways.
"""

from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from saml2 import BINDING_HTTP_REDIRECT
from saml2.server import Server

from keystead.providers.saml import idp


def post_form(request: HttpRequest, application_name: str, url: str, field: str,
              message: str, relay_state: str, *, signing_out: bool = False) -> HttpResponse:
    """The page whose form posts ``message`` (base64) as ``field`` to ``url``."""
    response = render(request, "saml_idp/post.html", {
        "application_name": application_name, "url": url, "field": field,
        "message": message, "relay_state": relay_state, "signing_out": signing_out})
    response["Cache-Control"] = "no-store"
    return response


def send(request: HttpRequest, server: Server, binding: str, application_name: str,
         xml: str, destination: str, relay_state: str, *, response: bool) -> HttpResponse:
    """``xml`` sent to ``destination`` by ``binding``. For HTTP-POST it must already carry
    its enveloped signature; for HTTP-Redirect pysaml2 signs the query (RSA-SHA256),
    which is where that binding's signature goes (Bindings 3.4.4.1)."""
    if binding == BINDING_HTTP_REDIRECT:
        sent = server.apply_binding(binding, xml, destination, relay_state, response=response,
                                    sign=True, sigalg=idp.SIGN_ALG)
        redirect = HttpResponseRedirect(dict(sent["headers"])["Location"])
        redirect["Cache-Control"] = "no-store"
        return redirect
    field = "SAMLResponse" if response else "SAMLRequest"
    return post_form(request, application_name, destination, field,
                     base64.b64encode(xml.encode()).decode("ascii"), relay_state,
                     signing_out=True)
