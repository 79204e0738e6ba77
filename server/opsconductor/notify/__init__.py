"""The notify stage: routing, grouping, a transactional outbox and reliable webhook delivery."""
