"""Reading a service provider's metadata: parsed by pysaml2, refused with a reason.

Metadata is accepted when it is well-formed SAML metadata describing exactly one
entity with an SP role and at least one assertion consumer service over HTTP-POST
(the binding Keystead answers with). Every refusal says what is wrong and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData

from keystead.metadata_download import MetadataProblem
from keystead.web_address import is_web_address


@dataclass(frozen=True)
class SpDescription:
    entity_id: str
    acs_urls: tuple[str, ...]  # HTTP-POST assertion consumer services, in index order
    acs_indexes: tuple[str, ...]  # their index attributes, in the same order
    slo: tuple[tuple[str, str], ...]  # (binding, location) of single logout services
    #: (binding, address) where LogoutResponses go: the ResponseLocation, else the Location
    slo_responses: tuple[tuple[str, str], ...]
    wants_signed_requests: bool
    has_encryption_certificate: bool


def load(xml: str) -> tuple[InMemoryMetaData, str]:
    """pysaml2's view of ``xml`` and the SP's entity ID."""
    if not xml.strip():
        raise MetadataProblem("The metadata is empty: paste the SP's metadata XML or give "
                              "its metadata URL.")
    store = InMemoryMetaData(ac_factory(), metadata=xml)
    try:
        store.load()
    except Exception as exc:  # pysaml2 raises many kinds for bad XML
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise MetadataProblem(f"The metadata is not valid SAML metadata ({reason}): paste "
                              "the whole <EntityDescriptor> document the SP publishes.") from exc
    sps = [eid for eid, entity in store.items() if "spsso_descriptor" in entity]
    if not sps:
        raise MetadataProblem("The metadata describes no service provider (no "
                              "<SPSSODescriptor>): is it an identity provider's metadata?")
    if len(store.items()) != 1:
        raise MetadataProblem(f"The metadata describes {len(store.items())} entities: register "
                              "one application from one <EntityDescriptor>.")
    if not sps[0]:  # required, but pysaml2 reads a document without it
        raise MetadataProblem("The <EntityDescriptor> has no entityID attribute: give the "
                              "SP's entity ID in its metadata.")
    return store, sps[0]


def describe(xml: str) -> SpDescription:
    """Check ``xml`` and say what Keystead needs from it."""
    store, entity_id = load(xml)
    acs = store.service(entity_id, "spsso_descriptor", "assertion_consumer_service",
                        BINDING_HTTP_POST) or []
    if not acs:
        raise MetadataProblem("The metadata has no <AssertionConsumerService> with the "
                              "HTTP-POST binding: Keystead sends responses by HTTP-POST; "
                              "enable that binding on the SP.")
    acs = sorted(acs, key=_index)
    slo, slo_responses = [], []
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        for endpoint in store.service(entity_id, "spsso_descriptor", "single_logout_service",
                                      binding) or []:
            slo.append((binding, _location(endpoint, "SingleLogoutService")))
            # Metadata 2.2.2: responses go to the ResponseLocation when there is one.
            slo_responses.append((binding, _location(endpoint, "SingleLogoutService",
                                                     "response_location")
                                  if endpoint.get("response_location") else slo[-1][1]))
    descriptor = store[entity_id]["spsso_descriptor"][0]
    return SpDescription(
        entity_id=entity_id,
        acs_urls=tuple(_location(e, "AssertionConsumerService") for e in acs),
        acs_indexes=tuple(str(e.get("index") or "0") for e in acs),
        slo=tuple(slo),
        slo_responses=tuple(slo_responses),
        wants_signed_requests=str(descriptor.get("authn_requests_signed", "")).lower() == "true",
        has_encryption_certificate=bool(store.certs(entity_id, "spsso", "encryption")),
    )


def _index(endpoint: dict) -> int:
    """An assertion consumer service's place in the order; pysaml2 passes the index
    attribute through unchecked, so a word there is refused here, not met by int()."""
    index = endpoint.get("index") or "0"
    try:
        return int(index)
    except ValueError:
        raise MetadataProblem(f"An <AssertionConsumerService> has index=\"{index[:50]}\", "
                              "which is not a whole number: give each one a number "
                              "(0, 1, 2, ...) in the SP's metadata.") from None


def _location(endpoint: dict, element: str, attribute: str = "location") -> str:
    """An endpoint's address (its ``attribute``: Location, or ResponseLocation); pysaml2
    does not insist on the required Location attribute, and an endpoint without one is
    nowhere to send anything."""
    name = "ResponseLocation" if attribute == "response_location" else "Location"
    location = endpoint.get(attribute)
    if not location:
        raise MetadataProblem(f"One <{element}> has no {name} attribute: give its address "
                              "in the SP's metadata.")
    if not is_web_address(location):
        raise MetadataProblem(f"One <{element}> has the {name} {location[:80]!r}, which is "
                              "not an http or https address: correct the SP's metadata.")
    return location
