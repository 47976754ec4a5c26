"""Self-service pages: sign-in, and the signed-in person's own page."""
