"""A real HTTP inbox on a loopback port that records what it is sent, for testing the drain
before (and besides) a whole second node: it answers as the protocol says, and can be told to
fail, refuse, defer or cut batches short."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class Receiver:
    """What the inbox received, and how it will answer next."""

    url: str = ""
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer this many requests with 503
    status: int = 200  # answer every request with this status when not 200
    max_envelopes: int | None = None  # answer 413 to a larger batch
    answer_first: int | None = None  # answer only the first N of each batch
    answer: Answer | None = None  # per envelope: a result dict, or None for the default
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        return [item for batch in self.batches for item in batch]

    def accepted_ids(self) -> list[str]:
        """Ids in the order they were first accepted."""
        return list(self._accepted)

    def __post_init__(self) -> None:
        self._accepted: list[str] = []

    def handle(self, request: Request) -> Response:
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return Response("down for maintenance", status=503)
            if self.status != 200:
                return Response("no", status=self.status)
            envelopes = json.loads(request.get_data())["envelopes"]
            if self.max_envelopes is not None and len(envelopes) > self.max_envelopes:
                return Response("too large", status=413)
            self.batches.append(envelopes)
            self.headers.append(dict(request.headers))
            answered = envelopes if self.answer_first is None else envelopes[: self.answer_first]
            results = [self._result(item) for item in answered]
        return Response(json.dumps({"results": results}), content_type="application/json")

    def _result(self, item: dict[str, Any]) -> dict[str, Any]:
        custom = self.answer(item) if self.answer else None
        if custom is not None:
            return {"id": item["id"], **custom}
        if item["id"] in self.seen:
            return {"id": item["id"], "status": "duplicate"}
        self.seen.add(item["id"])
        self._accepted.append(item["id"])
        return {"id": item["id"], "status": "accepted"}


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Serve a Receiver on a free loopback port for the duration of the block."""
    receiver = Receiver()

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return receiver.handle(Request(environ))(environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
