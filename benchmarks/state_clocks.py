"""What the first-seen clocks cost a sharded CI scan, against the step beside them.

    python -m benchmarks.state_clocks [--runs 5] [--volumes 1000] [--regions 8] [--shards 4]

A moto server (own process, 127.0.0.1) holds ``volumes`` unattached volumes in each of
``regions`` regions. `reclaim scan --shard I/N --output` runs once to start the clocks and
once 30 days later, as the workflow's shard jobs do, so every volume is a finding and a clock.
Then the propose job's two steps over the same shard files are timed as whole processes,
alternating: `reclaim merge-findings` (the step that was there) and `reclaim merge-state`
(the new one). Prints a Markdown table: medians, the ratio, and the bytes the clocks add.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from benchmarks.harness import Samples, aws_env, moto_server, run_timed
from benchmarks.run import create_volumes

REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
    "ap-southeast-2",
)  # fmt: skip


def _scan(config: Path, as_of: datetime, shard: str, output: Path, env: dict[str, str]) -> None:
    command = [
        sys.executable, "-m", "generator", "scan", "--config", str(config),
        "--as-of", as_of.isoformat(), "--shard", shard, "--output", str(output),
    ]  # fmt: skip
    run_timed(command, env, config.parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--volumes", type=int, default=1000, help="per region")
    parser.add_argument("--regions", type=int, default=8, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args(argv)
    regions = list(REGIONS[: args.regions])
    work = Path(tempfile.mkdtemp(prefix="bench-clocks-"))
    config = work / "reclaim.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "regions": regions,
                "rules": {"ebs-unattached": {"use_cloudtrail": False}},
                "output": {"state_file": "committed-state.json"},
            }
        )
    )
    shards = [f"{i}/{args.shards}" for i in range(1, args.shards + 1)]
    with moto_server() as endpoint:
        for region in regions:
            create_volumes(endpoint, args.volumes, region)
        env = aws_env(endpoint)
        start = datetime.now(UTC)
        # Day 0 starts the clocks (whole scan: the committed state); day 30 is the timed input.
        run_timed(
            [sys.executable, "-m", "generator", "scan", "--config", str(config),
             "--as-of", start.isoformat()],
            env, work,
        )  # fmt: skip
        committed = (work / "committed-state.json").read_bytes()
        files = []
        for shard in shards:
            (work / "committed-state.json").write_bytes(committed)  # each job's own checkout
            path = work / f"findings-{shard.replace('/', '-of-')}.json"
            _scan(config, start + timedelta(days=30), shard, path, env)
            files.append(str(path))
    clock_bytes = sum(
        len(json.dumps(json.loads(Path(f).read_text()).get("first_seen") or {}, indent=2))
        for f in files
    )
    total_bytes = sum(Path(f).stat().st_size for f in files)
    findings = sum(len(json.loads(Path(f).read_text())["findings"]) for f in files)
    commands = {
        "merge-findings": [sys.executable, "-m", "generator", "merge-findings",
                           "--output", str(work / "findings.json"), *files],
        "merge-state": [sys.executable, "-m", "generator", "merge-state",
                        "--config", str(config), *files],
    }  # fmt: skip
    samples = {name: Samples(name) for name in commands}
    env = aws_env("http://127.0.0.1:9")  # no AWS call is made
    for attempt in range(args.runs + 1):
        for name, command in commands.items():
            (work / "committed-state.json").write_bytes(committed)
            seconds = run_timed(command, env, work)
            if attempt:
                samples[name].seconds.append(seconds)
    ratio = samples["merge-state"].median / samples["merge-findings"].median
    print(
        f"{len(regions)} regions x {args.volumes:,} unattached volumes, {args.shards} shards: "
        f"{findings:,} findings and clocks; {args.runs} runs after a warm-up, alternating\n\n"
        "| step | median s | range s |\n|---|---:|---:|\n"
        + "".join(f"| {s.name} | {s.median:.3f} | {s.spread()} |\n" for s in samples.values())
        + f"\nmerge-state / merge-findings: {ratio:.2f}x. The clocks are {clock_bytes:,} of "
        f"the shard files' {total_bytes:,} bytes ({100 * clock_bytes / total_bytes:.1f} %)."
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
