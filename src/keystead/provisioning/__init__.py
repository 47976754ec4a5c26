"""Provisioning: accounts and passwords pushed to connected systems through a durable queue."""
