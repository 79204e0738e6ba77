"""OpsConductor watching itself: self-alerts (``source: opsconductor``) and readiness truths."""
