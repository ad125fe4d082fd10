"""How many GitHub API requests a propose run costs, measured on the local stand-in.

    PYTHONPATH=. python benchmarks/github_forge_requests.py [N]

Runs `sync_proposals` for N findings (default 20) through four runs (first, unchanged
rescan a week later, every finding resized, every finding gone) and prints reads and writes
per run, and writes per PR. GitHub's secondary limits count writes (about 80 a minute, 500
an hour for content creation), so writes per PR is the number that bounds a run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from github import Auth

from generator.forge.github import GitHubSettings, connect
from generator.forge.sync import Limits
from generator.forge.throttle import WritePacer
from generator.propose import sync_proposals
from tests.github.helpers import FakeTime, after_scan_1, finding, report
from tests.github_standin.server import GitHubStandIn


def main(count: int) -> None:
    fake = FakeTime()
    limits = Limits(max_open=count, max_new_per_run=count)
    with tempfile.TemporaryDirectory() as scratch:
        standin = GitHubStandIn(Path(scratch), clock=fake.clock).start()
        try:
            runs = {
                "first run": report(*[finding(n) for n in range(count)]),
                "unchanged, a week later": report(
                    *[finding(n, as_of=after_scan_1(7)) for n in range(count)],
                    as_of=after_scan_1(7),
                ),
                "every finding resized": report(
                    *[finding(n, size_gib=500, as_of=after_scan_1(8)) for n in range(count)],
                    as_of=after_scan_1(8),
                ),
                "every finding gone": report(as_of=after_scan_1(9)),
            }
            print(f"{count} findings          reads  writes  writes/finding  paced seconds")
            for name, findings in runs.items():
                mark, started = standin.mark(), fake.now
                forge = connect(
                    GitHubSettings(repository="acme/infra", api_url=standin.api_url),
                    Auth.Token("test-token"),
                    sleeper=fake.sleep,
                    pacer=WritePacer(clock=fake.clock, sleeper=fake.sleep),
                )
                outcome = sync_proposals(findings, forge, "remediations", limits=limits)
                assert outcome.stopped is None, outcome.stopped
                done = standin.since(mark)
                writes = sum(1 for e in done if e.method != "GET")
                print(
                    f"{name:<25} {len(done) - writes:>5} {writes:>7} {writes / count:>15.1f}"
                    f" {fake.now - started:>14.0f}"
                )
            assert not standin.violations, standin.violations
        finally:
            standin.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
