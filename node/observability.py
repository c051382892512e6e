"""What an operator sees of a running node: JSON log lines, request ids and Prometheus metrics.

Logs are one JSON object per line (time, level, logger, message, request id) and pass through a
filter that blanks every secret the node knows and anything shaped like a PEM block or a bearer
token. Metrics are served at /metrics. Web and worker processes of one node share counters when
PROMETHEUS_MULTIPROC_DIR names a directory they both write (gunicorn, systemd and the demo set
it); without it each process counts alone, which suits `mutualaid run`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import make_url

REQUEST_ID_HEADER = "X-Request-ID"
COLLECTORS = "mutualaid.metrics.collectors"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REDACTED = "[redacted]"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", re.DOTALL)
_BEARER = re.compile(
    r"(?i)\b(bearer\s+|basic\s+|(?:access_)?token=|password=|api_key=)[A-Za-z0-9._~+/=%-]{6,}"
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# Secrets shorter than this would blank ordinary words in log lines.
_MIN_SECRET = 6

REQUESTS = Counter(
    "mutualaid_http_requests_total", "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "mutualaid_http_request_seconds", "Time to answer an HTTP request, by endpoint.", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# --- logs -------------------------------------------------------------------------------------

class Redactor:
    """Blanks known secret values, URL passwords, PEM blocks and bearer tokens in text."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        """Remember secret values to blank from now on (short ones would match ordinary words)."""
        for value in values:
            if value and len(value) >= _MIN_SECRET:
                self.secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _PEM.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


redact = Redactor()


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and exception text through the redactor."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A plain line for people reading a terminal, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return super().format(record)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def log_handler(log_format: str = "json") -> logging.Handler:
    """A handler that writes redacted lines in the given format ("json" or "text")."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("mutualaid")
    return handler


def init_logging(level: str, log_format: str, secrets: Iterable[str | None] = ()) -> None:
    """Send the root logger's lines through one redacting handler (idempotent per process)."""
    redact.add(*secrets)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "mutualaid":
            root.removeHandler(existing)
    root.addHandler(log_handler(log_format))
    root.setLevel(level.upper())


def secret_values(settings: Any) -> list[str | None]:
    """The secret values among a node's settings, including passwords inside URLs."""
    values: list[str | None] = [
        settings.secret_key, getattr(settings, "smtp_password", None), settings.key_passphrase,
    ]
    for url in (settings.database_url, settings.broker_url, settings.redis_url):
        if url:
            with contextlib.suppress(Exception):  # an odd URL is no reason to fail logging setup
                values.append(make_url(url).password)
    return values


def current_request_id() -> str | None:
    """The id of the request being answered, if any."""
    if has_request_context():
        return g.get("request_id")
    return None


# --- requests ---------------------------------------------------------------------------------

def _start_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    endpoint = request.endpoint or "unmatched"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    return response


# --- metrics ----------------------------------------------------------------------------------

class _Chain(Collector):
    """Yields the metrics of several collectors as one (a fresh registry per scrape)."""

    def __init__(self, sources: list[Collector]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def add_collector(app: Flask, factory: Callable[[Flask], Collector]) -> None:
    """Let a package add a collector made for this app (read at each scrape of /metrics)."""
    app.extensions.setdefault(COLLECTORS, []).append(factory(app))


def process_collector() -> Collector:
    """The counters of this process, or of every process of the node in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render_metrics(app: Flask) -> bytes:
    """The Prometheus text exposition of this node."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Chain([process_collector(), *app.extensions.get(COLLECTORS, [])]))
    return generate_latest(registry)


def _metrics_view() -> Response:
    from flask import current_app

    return Response(render_metrics(current_app), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Set up logging, request ids, request metrics and the /metrics endpoint."""
    settings = app.config["MUTUALAID"]
    init_logging(settings.log_level, settings.log_format, [*secret_values(settings), str(app.secret_key)])
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
