"""``verbatim bench``: latency, throughput, ingest, scale and start-up measured against their floors.

Modules: ``harness`` (warm-up, rounds, interleaving, percentiles), one module per measurement
(``query``, ``http``, ``ingest``, ``scale``, ``startup``), ``medquad`` (where the benchmark data
is), ``report`` (JSON, Markdown, PNG, targets) and ``cli`` (options and the run).
"""
