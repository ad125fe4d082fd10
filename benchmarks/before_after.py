"""Scenario 1 (unattached volumes vs the floor), start-up and the time to the first AWS
request, for two reclaim source trees at once, interleaved on one moto server: what a
change did, measured under the same load.

    git archive BASE generator | tar -x -C OLD_TREE
    python -m benchmarks.before_after OLD_TREE [--runs 5] [--sizes 1000,4000,16000]

"before" runs OLD_TREE's generator package, "after" this tree's; the floor, the proxy and
Custodian are this tree's benchmarks. Prints a Markdown table of medians and ratios.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from benchmarks.harness import (
    ROOT,
    aws_env,
    custodian_bin,
    latency_proxy,
    moto_server,
    python_env,
    run_timed,
    run_to_first_request,
)
from benchmarks.run import EBS_POLICY, REGION, create_volumes, reclaim_command, write_reclaim_config


def _with_tree(env: dict[str, str], tree: Path) -> dict[str, str]:
    """``env`` with ``tree``'s generator package ahead of this one's."""
    return {**env, "PYTHONPATH": f"{tree}{os.pathsep}{env['PYTHONPATH']}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_tree", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,4000,16000")
    parser.add_argument(
        "--custodian-venv", type=Path, default=ROOT / "benchmarks" / ".custodian-venv"
    )
    args = parser.parse_args(argv)
    trees = {"before": args.old_tree.resolve(), "after": ROOT}
    for tree in trees.values():
        compileall.compile_dir(tree / "generator", quiet=1)
    custodian = custodian_bin(args.custodian_venv)
    rows: list[str] = []
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    with moto_server() as endpoint:
        base = Path(tempfile.mkdtemp(prefix="bench-before-after-"))
        works = {name: base / name for name in trees}
        configs = {}
        for name, work in works.items():
            work.mkdir()
            configs[name] = write_reclaim_config(work, regions=[REGION])
        (base / "policy.yml").write_text(yaml.safe_dump(EBS_POLICY))
        seeded = 0
        for count in (int(n) for n in args.sizes.split(",")):
            create_volumes(endpoint, count - seeded, REGION)
            seeded = count
            now = datetime.now(UTC)
            as_of = now + timedelta(days=30)
            envs = {name: _with_tree(aws_env(endpoint), tree) for name, tree in trees.items()}
            for name in trees:  # start the first-seen clocks
                run_timed(reclaim_command(configs[name], now, works[name] / "warm.json"),
                          envs[name], works[name])  # fmt: skip
            commands = {
                "floor": ([sys.executable, "-m", "benchmarks.floor_describe_volumes", REGION],
                          aws_env(endpoint), base),
                **{
                    name: (reclaim_command(configs[name], as_of, works[name] / "f.json"),
                           envs[name], works[name])
                    for name in trees
                },
                "custodian": ([str(custodian / "custodian"), "run", "--dryrun",
                               "--cache-period", "0", "-s", str(base / "c7n-out"), "-r", REGION,
                               str(base / "policy.yml")], aws_env(endpoint), base),
            }  # fmt: skip
            seconds = _interleaved(commands, args.runs)
            for label, m in (("", seconds), (", CPU", dict(CPU))):
                floor = m["floor"]
                rows.append(
                    f"| scenario 1, {count:,} volumes{label} | {floor:.2f} | {m['before']:.2f} "
                    f"({m['before'] / floor:.2f}x) | {m['after']:.2f} "
                    f"({m['after'] / floor:.2f}x) | {m['custodian']:.2f} |"
                )
            if len(rows) == 2:
                rows.append(_first_requests(endpoint, trees, configs, works, as_of, base,
                                            custodian, args.runs))  # fmt: skip
    rows.append(_startup(trees, custodian, args.runs))
    print(f"load after: {os.getloadavg()}", file=sys.stderr)
    print("| measure (median s) | floor | before (/ floor) | after (/ floor) | custodian |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


CPU: dict[str, float] = {}  # median CPU seconds (user + system) of the last _interleaved


def _interleaved(
    commands: dict[str, tuple[list[str], dict[str, str], Path]], runs: int
) -> dict[str, float]:
    """Median wall seconds per command; their median CPU seconds go to CPU (on a shared
    machine the CPU a process used varies far less with the load than its wall time)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for attempt in range(runs + 1):  # the first round warms caches and is not kept
        for name, (command, env, cwd) in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds = run_timed(command, env, cwd)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if attempt:
                samples[name].append(seconds)
                cpu[name].append(
                    after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                )
    CPU.clear()
    CPU.update({name: statistics.median(values) for name, values in cpu.items()})
    return {name: statistics.median(values) for name, values in samples.items()}


def _first_requests(
    endpoint: str,
    trees: dict[str, Path],
    configs: dict[str, Path],
    works: dict[str, Path],
    as_of: datetime,
    base: Path,
    custodian: Path,
    runs: int,
) -> str:
    samples: dict[str, list[float]] = {"before": [], "after": [], "custodian": []}
    with latency_proxy(endpoint, 0.0) as proxied:
        commands = {
            name: (reclaim_command(configs[name], as_of, works[name] / "f.json"),
                   _with_tree(aws_env(proxied), tree), works[name])
            for name, tree in trees.items()
        }  # fmt: skip
        commands["custodian"] = (
            [str(custodian / "custodian"), "run", "--dryrun", "--cache-period", "0",
             "-s", str(base / "c7n-out"), "-r", REGION, str(base / "policy.yml")],
            aws_env(proxied), base,
        )  # fmt: skip
        for attempt in range(2 * runs + 1):
            for name, (command, env, cwd) in commands.items():
                seconds = run_to_first_request(command, env, cwd, proxied)
                if attempt:
                    samples[name].append(seconds)
    m = {name: statistics.median(values) for name, values in samples.items()}
    return (
        f"| time to first AWS request | - | {m['before']:.3f} "
        f"({m['before'] / m['custodian']:.2f}x custodian) | {m['after']:.3f} "
        f"({m['after'] / m['custodian']:.2f}x custodian) | {m['custodian']:.3f} |"
    )


def _startup(trees: dict[str, Path], custodian: Path, runs: int) -> str:
    # Not from this tree's root: `python -m` puts the working directory first on the path.
    cwd = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    commands = {
        name: ([sys.executable, "-m", "generator", "--help"], _with_tree(python_env(), tree), cwd)
        for name, tree in trees.items()
    }
    commands["custodian"] = ([str(custodian / "custodian"), "version"], python_env(), cwd)
    wall = _interleaved(commands, 2 * runs)
    return "\n".join(
        f"| `reclaim --help` vs `custodian version`{label} | - | {m['before']:.3f} "
        f"({m['before'] / m['custodian']:.2f}x custodian) | {m['after']:.3f} "
        f"({m['after'] / m['custodian']:.2f}x custodian) | {m['custodian']:.3f} |"
        for label, m in (("", wall), (", CPU", dict(CPU)))
    )


if __name__ == "__main__":
    sys.exit(main())
