"""`reclaim merge-findings`: the shard outputs of one sharded scan become one findings file.

Inputs are read one at a time and streamed to the output, so merging stays as flat in
memory as scanning. Two guards protect `propose` from a wrong picture of the fleet:
overlapping inputs (the same finding twice) are refused, and a missing shard becomes an
error in the merged file, never a silent hole. The shards' first-seen clocks are joined too,
so a merged report is what one whole scan would have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ManifestError
from generator.fileio import atomic_writer
from generator.findings import FindingsReport, ScanError
from generator.report_stream import StreamingReportWriter
from generator.state_merge import ScanClocks, merge_clocks
from generator.untrusted import load_json_model


@dataclass(frozen=True)
class MergeResult:
    findings: int
    errors: int


def _read(path: Path) -> FindingsReport:
    return load_json_model(
        path,
        FindingsReport,
        ManifestError,
        hint="merge-findings takes the --output files of `reclaim scan --shard I/N`",
    )


def _missing_shards(paths: list[Path], reports: list[FindingsReport]) -> list[ScanError]:
    sharded = [(p, r.shard) for p, r in zip(paths, reports, strict=True) if r.shard]
    if not sharded:
        return []
    if len(sharded) != len(reports):
        whole = [str(p) for p, r in zip(paths, reports, strict=True) if r.shard is None]
        raise ManifestError(
            f"cannot merge whole scans ({', '.join(whole)}) with shards of a scan",
            hint="pass only the shard outputs of one sharded scan",
        )
    counts = {shard.count for _, shard in sharded}
    if len(counts) != 1:
        raise ManifestError(
            "the inputs are shards of differently split scans: "
            + ", ".join(f"{p} is {s}" for p, s in sharded),
            hint="pass the outputs of one scan's --shard I/N jobs, all with the same N",
        )
    seen: dict[int, Path] = {}
    for path, shard in sharded:
        if shard.index in seen:
            raise ManifestError(
                f"{seen[shard.index]} and {path} are both shard {shard}",
                hint="pass each shard's output once",
            )
        seen[shard.index] = path
    count = counts.pop()
    return [
        ScanError(
            account="*",
            region="*",
            rule="*",
            message=f"shard {index}/{count} is missing: its units were not scanned",
            hint="re-run that shard's scan job, then merge again",
        )
        for index in range(1, count + 1)
        if index not in seen
    ]


def merge_reports(paths: list[Path], output: Path) -> MergeResult:
    # Headers first (one report in memory at a time): as_of and shard checks need them all.
    heads: list[FindingsReport] = []
    for path in paths:
        report = _read(path)
        heads.append(report.model_copy(update={"findings": (), "skipped": (), "completed": ()}))
    missing = _missing_shards(paths, heads)
    as_of = min(head.as_of for head in heads)
    origin: dict[str, Path] = {}
    warned: set[ScanError] = set()
    findings = 0
    # None once an input carries no clocks: a partial set would read as forgotten clocks.
    clocks: list[ScanClocks] | None = []
    with atomic_writer(output) as stream, StreamingReportWriter(stream, as_of) as writer:
        for path in paths:
            report = _read(path)
            for finding in report.findings:
                if finding.id in origin:
                    raise ManifestError(
                        f"finding {finding.id} is in both {origin[finding.id]} and {path}",
                        hint="the inputs overlap: pass the shards of one scan, each once",
                    )
                origin[finding.id] = path
                writer.add_finding(finding)
                findings += 1
            for skipped in report.skipped:
                writer.add_skipped(skipped)
            for error in report.errors:
                writer.add_error(error)
            for warning in report.warnings:
                # Every shard reads the same proposals file: one warning, not one a shard.
                if warning not in warned:
                    warned.add(warning)
                    writer.add_warning(warning)
            # A missing shard adds no completed unit: propose then leaves its PRs alone.
            for unit in report.completed:
                writer.add_completed(unit)
            if report.first_seen is None:
                clocks = None
            elif clocks is not None:
                clocks.append(ScanClocks(frozenset(), report.first_seen))
        for error in missing:
            writer.add_error(error)
        if clocks is not None:
            writer.add_first_seen(merge_clocks({}, clocks))
    return MergeResult(findings=findings, errors=sum(len(h.errors) for h in heads) + len(missing))
