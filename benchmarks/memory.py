"""Peak Python memory of a scan (tracemalloc), streamed to a file as the CLI does, or
collected in memory as a library caller does. Runs in its own process against a moto
server that is already seeded, and prints one JSON line.

Run: python -m benchmarks.memory ENDPOINT REGIONS MODE WORKERS [RULES]
  REGIONS: comma-separated; MODE: stream | collect; RULES: comma-separated, the only rules
  enabled (default: every rule, ebs-unattached without CloudTrail)

Per unit, by the number of volumes (starts its own moto server, which answers
DescribeVolumes in pages of at most 500 as AWS does, and seeds one region):
  python -m benchmarks.memory --volumes 1000,4000,16000 [--rules RULES] [--mode MODE]
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
from typing import Any

VOLUME_RULES = ("ebs-unattached", "ebs-gp2-to-gp3")
"""The two rules that share the region's DescribeVolumes listing."""


def rules_config(only: list[str] | None) -> dict[str, Any]:
    from generator.rules import RULES

    rules: dict[str, Any] = {"ebs-unattached": {"use_cloudtrail": False}}
    if only is None:
        return rules
    unknown = sorted(set(only) - set(RULES))
    if unknown:
        raise SystemExit(f"unknown rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}")
    for name in RULES:
        rules[name] = rules.get(name, {}) if name in only else {"enabled": False}
    return rules


class UnitsPeak:
    """A sink that notes the peak so far when the units are all done: the scan hands the
    first-seen clocks over then, and what follows (writing them, sorting a collected
    report) is the end of the scan, not a unit."""

    def __init__(self) -> None:
        self.peak = 0

    def add_first_seen(self, clocks: Any) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]

    # Every other result is not this sink's business.
    def add_finding(self, finding: Any) -> None: ...
    def add_skipped(self, skipped: Any) -> None: ...
    def add_error(self, error: Any) -> None: ...
    def add_warning(self, warning: Any) -> None: ...
    def add_completed(self, unit: Any) -> None: ...


def measure(
    regions: list[str], mode: str, workers: int, only: list[str] | None = None
) -> dict[str, float]:
    from generator.config import parse_config
    from generator.fileio import atomic_writer
    from generator.report_stream import ReportCollector, ScanTally, StreamingReportWriter, Tee
    from generator.scan import chain_sessions, scan_into
    from generator.state import SeenState

    work = Path(tempfile.mkdtemp(prefix="reclaim-memory-"))
    config = parse_config(
        {"regions": regions, "rules": rules_config(only)},
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
    units = UnitsPeak()
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
                Tee(units, writer, tally),
                as_of=as_of,
                session_for=chain_sessions(config),
                state=state,
                workers=workers,
            )
    else:
        collector = ReportCollector()
        summary = scan_into(
            config,
            Tee(units, collector),
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
    return {
        "peak_mib": peak / 2**20,
        "units_peak_mib": units.peak / 2**20,
        "findings": summary.findings,
        "seconds": seconds,
    }


def per_unit(sizes: list[int], mode: str, only: list[str]) -> list[dict[str, Any]]:
    """One region's scan, grown from one size to the next on one server."""
    import subprocess

    from benchmarks.harness import aws_env, moto_server
    from benchmarks.run import create_volumes

    region = "us-east-1"
    rows: list[dict[str, Any]] = []
    seeded = 0
    with moto_server("--paginate-volumes") as endpoint:
        for size in sorted(sizes):
            create_volumes(endpoint, size - seeded, region)
            seeded = size
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.memory", endpoint, region, mode, "4",
                 ",".join(only)],
                env=aws_env(endpoint), capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            row = {"volumes": size, "mode": mode, **json.loads(out.strip().splitlines()[-1])}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def render(rows: list[dict[str, Any]], only: list[str]) -> str:
    lines = [
        f"Peak of one region's scan ({', '.join(only)}; DescribeVolumes in pages of 500):",
        "",
        "| volumes | mode | peak MiB, units | peak MiB, whole scan | findings | seconds (traced) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['volumes']:,} | {r['mode']} | {r['units_peak_mib']:.1f} | {r['peak_mib']:.1f} "
        f"| {r['findings']:,} | {r['seconds']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--volumes":
        import argparse

        parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
        parser.add_argument("--volumes", required=True)
        parser.add_argument("--rules", default=",".join(VOLUME_RULES))
        parser.add_argument("--mode", choices=("stream", "collect"), default="stream")
        args = parser.parse_args(argv)
        only = args.rules.split(",")
        sizes = [int(size) for size in args.volumes.split(",")]
        print(render(per_unit(sizes, args.mode, only), only))
        return
    endpoint, regions, mode, workers = argv[:4]
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    only = argv[4].split(",") if len(argv) > 4 else None
    print(json.dumps(measure(regions.split(","), mode, int(workers), only)))


if __name__ == "__main__":
    main(sys.argv[1:])
