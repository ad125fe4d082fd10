"""Peak Python memory of a scan (tracemalloc), streamed to a file as the CLI does, or
collected in memory as a library caller does. Runs in its own process against a moto
server that is already seeded, and prints one JSON line.

Run: python -m benchmarks.memory ENDPOINT REGIONS MODE WORKERS
  REGIONS: comma-separated; MODE: stream | collect
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path


def measure(regions: list[str], mode: str, workers: int) -> dict[str, float]:
    from generator.config import parse_config
    from generator.fileio import atomic_writer
    from generator.report_stream import ReportCollector, ScanTally, StreamingReportWriter, Tee
    from generator.scan import chain_sessions, scan_into
    from generator.state import SeenState

    work = Path(tempfile.mkdtemp(prefix="reclaim-memory-"))
    config = parse_config(
        {"regions": regions, "rules": {"ebs-unattached": {"use_cloudtrail": False}}},
        source="benchmark",
        base_dir=work,
    )
    as_of = datetime.now(UTC) + timedelta(days=30)
    # The first-seen clocks are started before measuring: the state file is not the
    # subject here (it holds one short line per idle resource by design).
    state = SeenState(None)
    scan_into(
        config,
        ScanTally(),
        as_of=datetime.now(UTC),
        session_for=chain_sessions(config),
        state=state,
        workers=workers,
    )
    tracemalloc.start()
    started = time.perf_counter()
    if mode == "stream":
        tally = ScanTally()
        with (
            atomic_writer(work / "findings.json") as stream,
            StreamingReportWriter(stream, as_of) as writer,
        ):
            summary = scan_into(
                config,
                Tee(writer, tally),
                as_of=as_of,
                session_for=chain_sessions(config),
                state=state,
                workers=workers,
            )
    else:
        collector = ReportCollector()
        summary = scan_into(
            config,
            collector,
            as_of=as_of,
            session_for=chain_sessions(config),
            state=state,
            workers=workers,
        )
        report = collector.report(as_of)
        assert len(report.findings) == summary.findings
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_mib": peak / 2**20, "findings": summary.findings, "seconds": seconds}


if __name__ == "__main__":
    endpoint, regions, mode, workers = sys.argv[1:5]
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    print(json.dumps(measure(regions.split(","), mode, int(workers))))
