"""Password and logon policy: rules (pure), screening, history, expiry and lockout."""
