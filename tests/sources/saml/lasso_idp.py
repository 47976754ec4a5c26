"""A SAML identity provider made of Lasso, to test Keystead's SP against code that shares
nothing with pysaml2.

Run by Debian's ``/usr/bin/python3`` (``python3-lasso`` is not in the virtualenv):
it reads one JSON object on stdin and prints one on stdout. Input:

``idp_key``/``idp_cert`` (PEM), ``entity_id``, ``sso_url``, ``sp_metadata`` (XML),
``request`` (the AuthnRequest as received: the query string for HTTP-Redirect,
the base64 form value for HTTP-POST) and ``binding`` ("redirect" or "post"),
``name_id`` and ``name_id_format``, ``attributes`` (name -> list of values),
``lifetime_seconds`` (negative: already expired), optional ``audience``
(replaces the SP's entity id), ``encrypt`` (encrypt the assertion, AES-256, or 3DES
with ``cipher: "3des"``) and ``sha1`` (sign with RSA-SHA1 instead of RSA-SHA256);
optional ``confirmation_method`` (replaces bearer), ``audience_restrictions`` (a list of
audiences, one <AudienceRestriction> each; empty: none at all).

Output: ``url`` (the ACS address), ``response`` (base64 SAMLResponse) and
``relay_state``; or ``metadata`` alone when called with ``{"metadata_only": true, ...}``.
"""

import datetime
import json
import sys

import lasso

SSO = '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{}" Location="{}"/>'
FORMATS = ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
           "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")


def idp_metadata(entity_id, sso_url, cert_pem):
    body = "".join(line for line in cert_pem.strip().splitlines() if "CERTIFICATE" not in line)
    key = ("<ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
           f"{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>")
    formats = "".join(f"<md:NameIDFormat>{f}</md:NameIDFormat>" for f in FORMATS)
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      WantAuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing">{key}</md:KeyDescriptor>
    {formats}
    {SSO.format("HTTP-Redirect", sso_url)}
    {SSO.format("HTTP-POST", sso_url)}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def respond(job):
    server = lasso.Server.newFromBuffers(
        idp_metadata(job["entity_id"], job["sso_url"], job["idp_cert"]),
        job["idp_key"], None, job["idp_cert"])
    server.signatureMethod = (lasso.SIGNATURE_METHOD_RSA_SHA1 if job.get("sha1")
                              else lasso.SIGNATURE_METHOD_RSA_SHA256)
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_SP, job["sp_metadata"])
    login = lasso.Login(server)
    login.processAuthnRequestMsg(job["request"])  # a query string or a base64 form value
    login.validateRequestMsg(True, True)
    if job.get("encrypt"):
        cipher = (lasso.ENCRYPTION_SYM_KEY_TYPE_3DES if job.get("cipher") == "3des"
                  else lasso.ENCRYPTION_SYM_KEY_TYPE_AES_256)
        server.setEncryptionSymKeyType(cipher)
        provider = server.getProvider(login.remoteProviderId)
        provider.setEncryptionMode(lasso.ENCRYPTION_MODE_ASSERTION)
        provider.setEncryptionSymKeyType(cipher)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    lifetime = datetime.timedelta(seconds=job.get("lifetime_seconds", 300))
    not_before = now - datetime.timedelta(minutes=1) if lifetime.total_seconds() > 0 \
        else now + lifetime - datetime.timedelta(minutes=10)
    login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD, stamp(now), None,
                         stamp(not_before), stamp(now + lifetime))
    assertion = login.assertion
    name_id = lasso.Saml2NameID()
    name_id.content = job["name_id"]
    name_id.format = job["name_id_format"]
    assertion.subject.nameID = name_id
    for confirmation in [assertion.subject.subjectConfirmation]:
        if confirmation is not None and confirmation.subjectConfirmationData is not None:
            confirmation.subjectConfirmationData.notOnOrAfter = stamp(now + lifetime)
        if confirmation is not None and job.get("confirmation_method"):
            confirmation.method = job["confirmation_method"]
    if job.get("audience"):
        restriction = lasso.Saml2AudienceRestriction()
        restriction.audience = job["audience"]
        assertion.conditions.audienceRestriction = (restriction,)
    if job.get("audience_restrictions") is not None:
        restrictions = []
        for audience in job["audience_restrictions"]:
            restriction = lasso.Saml2AudienceRestriction()
            restriction.audience = audience
            restrictions.append(restriction)
        assertion.conditions.audienceRestriction = tuple(restrictions)
    statement = lasso.Saml2AttributeStatement()
    attributes = []
    for name, values in job.get("attributes", {}).items():
        attribute = lasso.Saml2Attribute()
        attribute.name = name
        attribute.nameFormat = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
        attribute_values = []
        for value in values:
            text = lasso.MiscTextNode.newWithString(value)
            text.textChild = True
            attribute_value = lasso.Saml2AttributeValue()
            attribute_value.any = (text,)
            attribute_values.append(attribute_value)
        attribute.attributeValue = tuple(attribute_values)
        attributes.append(attribute)
    if attributes:
        statement.attribute = tuple(attributes)
        assertion.attributeStatement = (statement,)
    login.buildAuthnResponseMsg()
    return {"url": login.msgUrl, "response": login.msgBody,
            "relay_state": login.msgRelayState or ""}


def main():
    job = json.load(sys.stdin)
    if job.get("metadata_only"):
        print(json.dumps({"metadata": idp_metadata(job["entity_id"], job["sso_url"],
                                                   job["idp_cert"])}))
        return
    print(json.dumps(respond(job)))


if __name__ == "__main__":
    main()
