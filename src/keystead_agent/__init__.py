"""The Keystead endpoint agent: keeps a Linux computer's local account passwords in step
with Keystead. A root daemon (``keystead_agent.daemon``) does all the work; a small PAM module
(``agent/pam/pam_keystead.c``) relays the PAM conversation to it over a Unix socket; the
``keystead-agent`` command enrols the computer and shows its state. No Django import here."""

__version__ = "0.1.0"
