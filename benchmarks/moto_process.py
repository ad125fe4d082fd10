"""moto's ThreadedMotoServer on 127.0.0.1 in a process of its own, so the server's work
does not share a GIL with the tool being measured. Prints its port; stops when stdin closes.

Run: python -m benchmarks.moto_process [--index-cloudwatch] [--paginate-volumes]
                                        [--empty-recycle-bin]

--paginate-volumes: DescribeVolumes answers in pages as AWS does (benchmarks.moto_paging).

--empty-recycle-bin: moto has no Recycle Bin (rbin answers HTTP 500, which a scan retries
before it gives up on the optional evidence). With the flag, rbin ListRules is answered as
AWS answers it for an account without retention rules: one page, no rules. Each tool then
pays what it pays on AWS: one request per region for a rule that asks.

--index-cloudwatch: moto answers GetMetricData by scanning every stored datapoint for every
query and period (queries x periods x datapoints: ~2 billion steps for 1,000 instances x 3
metrics x 14 days), and GetMetricStatistics by scanning every datapoint per call. The
benchmark would then measure moto, not the tools. With the flag, each query is answered by
moto's own code over only the datapoints that can match it (found through an index), so
the answers are moto's and both tools get the same ones, in time linear in what they ask.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from moto.server import ThreadedMotoServer

Key = tuple[Any, ...]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _index(backend: Any) -> dict[Key, list[Any]]:
    stamp = len(backend.metric_data)
    cached = getattr(backend, "_benchmark_index", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[no-any-return]
    index: dict[Key, list[Any]] = defaultdict(list)
    for datum in backend.get_all_metrics():
        dims = frozenset((d.name, d.value) for d in datum.dimensions)
        index[("exact", datum.name, dims)].append(datum)
        index[("name", datum.namespace, datum.name)].append(datum)
        for dim in dims:
            index[("dim", datum.namespace, datum.name, dim)].append(datum)
    backend._benchmark_index = (stamp, index)
    return index


def index_cloudwatch() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original_data = CloudWatchBackend.get_metric_data
    original_statistics = CloudWatchBackend.get_metric_statistics
    lock = threading.Lock()  # the per-call view below is set on the shared backend

    def answer_over(backend: Any, subset: list[Any], call: Any) -> Any:
        backend.get_all_metrics = lambda: subset
        try:
            return call()
        finally:
            del backend.get_all_metrics

    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        if any("MetricStat" not in q for q in queries):
            return original_data(self, queries, start_time, end_time, scan_by)
        results: list[dict[str, Any]] = []
        with lock:
            index = _index(self)
            for query in queries:
                metric = query["MetricStat"]["Metric"]
                dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
                # moto matches name + exact dimensions, or namespace + name without them.
                key = (
                    ("exact", metric["MetricName"], dims)
                    if dims
                    else ("name", metric["Namespace"], metric["MetricName"])
                )
                results += answer_over(
                    self,
                    index.get(key, []),
                    lambda q=query: original_data(self, [q], start_time, end_time, scan_by),
                )
        return results

    def get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> Any:
        with lock:
            index = _index(self)
            if dimensions:  # a match carries every asked dimension: any one narrows it
                first = dimensions[0]
                key: Key = ("dim", namespace, metric_name, (first["Name"], first["Value"]))
            else:
                key = ("name", namespace, metric_name)
            return answer_over(
                self,
                index.get(key, []),
                lambda: original_statistics(
                    self,
                    namespace,
                    metric_name,
                    start_time,
                    end_time,
                    period,
                    stats,
                    dimensions,
                    unit,
                ),
            )

    CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]
    CloudWatchBackend.get_metric_statistics = get_metric_statistics  # type: ignore[method-assign]


def empty_recycle_bin() -> None:
    import moto.moto_server.threaded_moto_server as threaded

    dispatcher: Any = threaded.DomainDispatcherApplication  # type: ignore[attr-defined]

    class WithEmptyRecycleBin(dispatcher):  # type: ignore[misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            signed_for = environ.get("HTTP_AUTHORIZATION", "")
            if "/rbin/aws4_request" in signed_for and environ.get("PATH_INFO") == "/list-rules":
                body = b'{"Rules": []}'
                start_response(
                    "200 OK",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
            return super().__call__(environ, start_response)

    threaded.DomainDispatcherApplication = WithEmptyRecycleBin  # type: ignore[attr-defined]


if __name__ == "__main__":
    if "--empty-recycle-bin" in sys.argv[1:]:
        empty_recycle_bin()
    if "--index-cloudwatch" in sys.argv[1:]:
        index_cloudwatch()
    if "--paginate-volumes" in sys.argv[1:]:
        from benchmarks.moto_paging import paginate_describe_volumes

        paginate_describe_volumes()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    os._exit(0)  # do not wait for in-flight requests of a parent that is gone
