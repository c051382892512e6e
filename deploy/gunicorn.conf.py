"""Gunicorn settings for a mutualaid node in production: `gunicorn -c gunicorn.conf.py 'node:create_app()'`.

Every value can be overridden from the environment (the systemd unit and the compose file set them).
The node's own settings come from MUTUALAID_* variables and the instance folder, not from here.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

# Web and worker processes of one node add up their Prometheus counters in this folder. It must
# be set before anything imports prometheus_client, so it is settled here, first.
metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/run/mutualaid/metrics")
Path(metrics_dir).mkdir(parents=True, exist_ok=True)

# Behind nginx on the same machine: listen on loopback only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threads suit a node: requests wait on the database, rarely on the CPU. A Raspberry Pi or a
# 1 GB VPS is well served by 2 processes x 4 threads.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count(), 4)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Requests larger than the node accepts are refused by Flask; these bound the headers.
limit_request_line = 8190
limit_request_fields = 100
# nginx terminates TLS and says so in X-Forwarded-Proto; only trust it from loopback.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips

accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
# The same JSON lines, with the same redaction, as the node's own logs.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "node.observability.RedactingFilter"}},
    "formatters": {"json": {"()": "node.observability.JsonFormatter"}},
    # Named like the node's own handler, which replaces it on the root logger (no line twice).
    "handlers": {
        "mutualaid": {
            "class": "node.observability.StderrHandler", "formatter": "json", "filters": ["redact"],
        },
    },
    "root": {"level": "INFO", "handlers": ["mutualaid"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["mutualaid"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["mutualaid"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server: Any, worker: Any) -> None:
    """Forget the live gauges of a web process that ended (its counters still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
