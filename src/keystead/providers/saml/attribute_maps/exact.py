"""Release attributes under exactly the names the application's settings give.

pysaml2 otherwise renames well-known attributes (``email`` becomes an ``urn:oid``
name); an empty map keeps every name as configured, so the administrator's table in
the console is what the SP receives.
"""

MAP = {"identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "fro": {}, "to": {}}
