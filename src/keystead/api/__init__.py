"""The REST API (django-ninja, /api/v1), its admin API tokens, and the SCIM 2.0 server."""
