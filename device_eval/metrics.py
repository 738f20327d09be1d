"""`/metrics` in Prometheus' text format (prometheus-client, a registry per app): requests by route and status,
request latency by route, searches per index call, and the served index's size and generation."""

import time
from collections.abc import Callable
from typing import Any

from distill.errors import DistillError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise DistillError("/metrics needs prometheus-client: pip install 'asym-distill[serve]'") from None
    return prometheus_client


class ServerMetrics:
    """The server's metrics; `index_state` gives (live items, generation) of the index served at scrape time."""

    def __init__(self, index_state: Callable[[], tuple[int, int]]) -> None:
        prom = _prometheus()
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("distill_http_requests", "HTTP requests answered", ["route", "status"],
                                     registry=self.registry)
        self.latency = prom.Histogram("distill_http_request_seconds", "time to answer, by route", ["route"],
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch = prom.Histogram("distill_search_batch_size", "queries per index call (coalesced searches)",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        items = prom.Gauge("distill_index_items", "searchable items of the served index", registry=self.registry)
        generation = prom.Gauge("distill_index_generation", "generation of the served index", registry=self.registry)
        items.set_function(lambda: index_state()[0])
        generation.set_function(lambda: index_state()[1])
        self.content_type = prom.CONTENT_TYPE_LATEST
        self._generate = prom.generate_latest

    def exposition(self) -> bytes:
        """The registry in the text exposition format."""
        return bytes(self._generate(self.registry))

    def middleware(self, app: Any) -> Any:
        """ASGI middleware counting and timing every HTTP request by its route template (never the raw path)."""

        async def measured(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start, status = time.perf_counter(), 500

            async def send_status(msg: dict) -> None:
                nonlocal status
                if msg["type"] == "http.response.start":
                    status = int(msg["status"])
                await send(msg)

            try:
                await app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or ("/demo" if scope["path"].startswith("/demo")
                                                                      else "unmatched")
                self.requests.labels(route, str(status)).inc()
                self.latency.labels(route).observe(time.perf_counter() - start)
            return None

        return measured
