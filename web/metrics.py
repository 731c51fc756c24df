"""Prometheus metrics of one app (prometheus-client), served at ``GET /metrics`` when enabled.

Every family lives in the app's own ``CollectorRegistry`` (made by :class:`ServiceMetrics`, never
at import), so two apps in one process (the tests) count separately. Labels come from small
fixed sets only: the route template (never the raw path), the status code, the abstention's
reason *code* and the safety topic ids; a question's text is never a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qa.store import IndexStore
from qa.types import Answer

# Request latency: the answer path takes ~10-60 ms warm; pages and documents less.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EMBED_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


class IndexCollector(Collector):
    """The index in service, read at scrape time (so a reload shows at once).

    Args:
        store: Returns the store in service, or None before it is loaded.
    """

    def __init__(self, store: Callable[[], IndexStore | None]) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        store = self.store()
        if store is None:
            return
        info = store.info()
        build = GaugeMetricFamily(
            "verbatim_index_build_info", "The index build in service (value 1).", labels=["build", "model", "vector_index"]
        )
        build.add_metric([store.path.name, info.model, info.vector_index], 1.0)
        yield build
        yield GaugeMetricFamily("verbatim_index_documents", "Documents in the index in service.", value=info.documents)
        yield GaugeMetricFamily("verbatim_index_chunks", "Chunks (passages) in the index in service.", value=info.chunks)
        yield GaugeMetricFamily("verbatim_index_sentences", "Sentences in the index in service.", value=info.sentences)


class ServiceMetrics:
    """The metric families of one app.

    Attributes:
        registry: Where every family is registered; :meth:`exposition` renders it.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)  # memory, CPU, open files of this process
        self.requests = Counter(
            "verbatim_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=registry,
        )
        self.latency = Histogram(
            "verbatim_http_request_duration_seconds", "Time to answer an HTTP request, by method, route and status.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.answers = Counter(
            "verbatim_answers", "Questions answered or abstained on, by outcome and abstention reason code.",
            ["outcome", "reason_code"], registry=registry,
        )
        self.disclaimers = Counter(
            "verbatim_disclaimers", "Answers that carried the safety disclaimer, by safety topic.",
            ["topic"], registry=registry,
        )
        self.queue_depth = Gauge(
            "verbatim_batch_queue_depth", "Questions waiting for a batching stage.", ["stage"], registry=registry
        )
        self.batch_size = Histogram(
            "verbatim_batch_size", "Questions per batch, by stage.", ["stage"], buckets=BATCH_BUCKETS, registry=registry
        )
        self.embed_seconds = Histogram(
            "verbatim_embed_seconds", "Time to embed one batch of questions (normalising and the model's forward pass).",
            buckets=EMBED_BUCKETS, registry=registry,
        )
        self.ready = Gauge("verbatim_ready", "1 once the model and index are loaded and a first answer computed.",
                           registry=registry)

    def watch_index(self, store: Callable[[], IndexStore | None]) -> None:
        """Report the index in service (build id, documents, chunks) at every scrape."""
        self.registry.register(IndexCollector(store))

    def watch_queue(self, stage: str, depth: Callable[[], int]) -> None:
        """Report a batching stage's queue depth at every scrape."""
        self.queue_depth.labels(stage=stage).set_function(depth)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        """Count one answer by outcome, reason code and safety topics."""
        outcome = "abstained" if answer.abstained else "answered"
        code = answer.reason_code.value if answer.reason_code is not None else "none"
        self.answers.labels(outcome=outcome, reason_code=code).inc()
        if answer.disclaimer:
            for topic in answer.safety_topics:
                self.disclaimers.labels(topic=topic).inc()

    def observe_batch(self, stage: str, size: int) -> None:
        """Record the size of one batch a stage processed."""
        self.batch_size.labels(stage=stage).observe(size)

    def exposition(self) -> bytes:
        """Every family in the Prometheus text format."""
        return generate_latest(self.registry)
