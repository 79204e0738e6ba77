"""The composition root: the server's stages built from constructor arguments, then installed.

:func:`build_runtime` builds each stage, composes the pipeline from them
(``pipeline.build_pipeline``: correlator, suppression, store, sink) and the runtime's
typed fields; :func:`install_components` registers the stages' start/stop hooks and
background loops. The order of the calls below is the start order.
"""

from __future__ import annotations

from opsconductor.config.settings import Settings
from opsconductor.metrics import Metrics
from opsconductor.pipeline import build_pipeline
from opsconductor.runtime import Runtime
from opsconductor.store.alert_store import Clock
from opsconductor.store.db import Database


def build_runtime(settings: Settings) -> Runtime:
    """Build every stage and the pipeline that orders them; nothing starts yet."""
    from opsconductor.correlate.install import build as build_rules
    from opsconductor.notify.install import build as build_notify

    db = Database(settings.effective_database_url, timeout_s=settings.db_timeout_s,
                  statement_timeout_s=settings.db_statement_timeout_s)
    metrics = Metrics()
    clock = Clock()  # one clock for every stage (tests move it through rt.pipeline.clock)
    rules = build_rules(settings, metrics, clock)  # correlator + suppression stage + rules service
    notify = build_notify(settings, metrics, db, clock)  # the outbox sink + delivery worker
    pipeline = build_pipeline(
        db, metrics=metrics, correlator=rules.correlator, suppression=rules.suppression, sink=notify.sink,
        default_timeout=settings.alert_timeout_s, batch_size=settings.process_batch_size,
        max_future_skew_s=settings.max_future_skew_s, linger_s=settings.process_linger_ms / 1000, clock=clock,
    )
    pipeline.shared = pipeline.partitioned or settings.workers > 1
    rt = Runtime(settings=settings, db=db, metrics=metrics, pipeline=pipeline, rules=rules.service,
                 suppression=rules.suppression, notify=notify.service, notify_worker=notify.worker)
    install_components(rt)
    return rt


def install_components(rt: Runtime) -> None:
    """Attach every stage's hooks and loops to the runtime; this order is the start order."""
    # Each line is added by the stage's own change.
    from opsconductor.correlate.install import install as install_rules

    install_rules(rt)  # load the rules first (the first batch needs them); hot reload, re-decisions
    from opsconductor.sources.service import install as install_poller

    install_poller(rt)  # targets, poller, leader election
    from opsconductor.sources.webhook_install import install as install_pushed

    install_pushed(rt)  # webhook catalog, SNMP trap receiver (after the poller: uses its manifests)
    from opsconductor.notify.install import install as install_notify

    install_notify(rt)  # delivery worker
    from opsconductor.shelving import install as install_shelve

    install_shelve(rt)  # console: shelved alerts come back when their time is up
    from opsconductor.health.selfmon import install as install_selfmon

    install_selfmon(rt)  # self-alerts (source: opsconductor) and /readyz truths (last: it watches the others)
