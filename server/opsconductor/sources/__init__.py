"""The sources stage: everything that produces normalized events (poller, traps, webhooks)."""
