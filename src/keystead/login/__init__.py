"""Signing in: password verification, lockout, forced change, and (later) second factors."""
