"""Keystead: a self-hosted identity and password platform."""

__version__ = "0.1.0"
