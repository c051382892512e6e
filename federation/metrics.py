"""Federation figures for /metrics: outbox depth and age per peer, peer failures, inbox rejections.

The outbox figures are read from the database at each scrape, so every web and worker process
reports the same numbers; the inbox counts rejections as they happen (`count_rejection`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from flask import Flask
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from federation.models import Delivery, Peer
from node.db import session_scope, utcnow
from node.observability import add_collector

log = logging.getLogger(__name__)

INBOX_REJECTIONS = Counter(
    "mutualaid_inbox_rejections_total", "Envelopes the inbox refused, by reason slug.", ["reason"],
)


def count_rejection(reason: str) -> None:
    """Count one envelope the inbox refused, under its stable reason slug (e.g. "bad-signature")."""
    INBOX_REJECTIONS.labels(reason).inc()


class OutboxCollector(Collector):
    """Pending deliveries, the age of the oldest, and consecutive failures, for each peer."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("mutualaid_outbox_depth", "Envelopes waiting for delivery to a peer.",
                                  labels=["peer"])
        age = GaugeMetricFamily("mutualaid_outbox_oldest_age_seconds",
                                "Age of the oldest envelope waiting for a peer.", labels=["peer"])
        failures = GaugeMetricFamily("mutualaid_peer_consecutive_failures",
                                     "Failed delivery attempts to a peer since its last success.",
                                     labels=["peer"])
        ok = GaugeMetricFamily("mutualaid_outbox_metrics_ok", "1 when the outbox figures could be read.")
        try:
            self._read(depth, age, failures)
        except SQLAlchemyError as exc:
            log.warning("cannot read the outbox for metrics: %s", type(exc).__name__)
            ok.add_metric([], 0)
        else:
            ok.add_metric([], 1)
        yield from (depth, age, failures, ok)

    def _read(self, depth: GaugeMetricFamily, age: GaugeMetricFamily, failures: GaugeMetricFamily) -> None:
        now = utcnow()
        with session_scope(self.app) as db:
            queued = db.execute(
                select(Delivery.peer_id, func.count(), func.min(Delivery.created_at))
                .group_by(Delivery.peer_id)
            ).all()
            peers = db.execute(select(Peer.id, Peer.consecutive_failures).where(Peer.url.is_not(None))).all()
        pending = {peer_id: (count, oldest) for peer_id, count, oldest in queued}
        for peer_id, failed in peers:
            count, oldest = pending.pop(peer_id, (0, None))
            _add_peer(depth, age, peer_id, count, oldest, now)
            failures.add_metric([peer_id], failed or 0)
        for peer_id, (count, oldest) in pending.items():
            _add_peer(depth, age, peer_id, count, oldest, now)


def _add_peer(depth: GaugeMetricFamily, age: GaugeMetricFamily, peer_id: str, count: int,
              oldest: datetime | None, now: datetime) -> None:
    depth.add_metric([peer_id], count)
    age.add_metric([peer_id], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


def init_app(app: Flask) -> None:
    """Report this node's outbox at /metrics."""
    add_collector(app, OutboxCollector)
