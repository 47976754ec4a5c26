"""pysaml2 attribute maps for Keystead's IdP (see ``exact``)."""
