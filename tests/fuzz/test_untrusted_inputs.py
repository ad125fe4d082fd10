"""The fuzz campaign: every file and event reclaim reads, varied by hypothesis, through the
commands that read it. Each input must end in an exit code `reclaim --help` documents, never
a traceback, with no AWS or GitHub write (tests/fuzz/harness.py records and refuses both).

Where an input is a pull request's manifest, more holds: a variant that changes what would run
(the plan's or rollback's steps, IDs, account or region) or what the reviewer read (README.md)
never gets past validation; the commands make no AWS call for it.

CI runs a tenth of each target's examples with a fixed seed; the full campaign (10,000+
inputs) runs with `RECLAIM_FUZZ=full python -m pytest tests/fuzz` (see tests/fuzz/conftest.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.errors import ExitCode
from generator.manifest.models import Plan, Rollback
from tests.fuzz.genuine import Genuine, build, copy_of
from tests.fuzz.harness import Outcome, run
from tests.fuzz.mutations import json_variants, text_variants, yaml_variants

FULL = os.environ.get("RECLAIM_FUZZ") == "full"


def campaign(full_examples: int) -> settings:
    return settings(
        max_examples=full_examples if FULL else max(20, full_examples // 10),
        deadline=None,
        database=None,
        derandomize=not FULL,
        suppress_health_check=list(HealthCheck),
    )


def _built_once() -> Genuine:
    """The strategies need the genuine bytes when the test is collected."""
    import tempfile

    if "built" not in _CACHE:
        _CACHE["built"] = build(Path(tempfile.mkdtemp(prefix="reclaim-fuzz-genuine-")))
    return _CACHE["built"]


_CACHE: dict[str, Genuine] = {}
G = _built_once()
PLAN = f"{G.folder}/plan.json"
ROLLBACK = f"{G.folder}/rollback.json"
README = f"{G.folder}/README.md"
JOURNAL = f"{G.folder}/journal.json"


def _what_runs(raw: bytes, model: type[Plan] | type[Rollback]) -> Any:
    """What decides what runs and where, as reclaim reads it; None if it does not parse."""
    try:
        manifest = model.model_validate(json.loads(raw))
    except (ValueError, RecursionError):
        return None
    return manifest.model_dump(
        mode="json", include={"plan_id", "rule", "account", "region", "steps"}
    )


def assert_runs_only_the_genuine(outcome: Outcome, raw: bytes, relative: str) -> None:
    """A variant that changes what runs is refused (exit 4) before any AWS call."""
    model = Plan if relative.endswith("plan.json") else Rollback
    if _what_runs(raw, model) != _what_runs(G.bytes_of(relative), model):
        assert outcome.exit_code == ExitCode.MANIFEST, (outcome.exit_code, outcome.output[-1500:])
        assert outcome.aws_calls == [], outcome.aws_calls


def _write(work: Path, relative: str, raw: bytes) -> None:
    (work / relative).write_bytes(raw)


RUN_ARGS = ["--config", "reclaim.yml", "--wait", "0"]  # apply and rollback, never waiting
GITHUB_TOKEN = {"RECLAIM_GITHUB_TOKEN": "fuzz"}


@contextmanager
def variant(relative: str, raw: bytes, *, unjournaled: bool = False) -> Iterator[Path]:
    """A fresh copy of the genuine tree with ``relative`` replaced by ``raw`` (and, for
    ``unjournaled``, the folder as merged: without its journal)."""
    with copy_of(G) as work:
        if unjournaled:
            (work / JOURNAL).unlink()
        _write(work, relative, raw)
        yield work


# ---- a pull request's manifests --------------------------------------------------------------


@campaign(2400)
@given(raw=json_variants(G.bytes_of(PLAN)), command=st.sampled_from(["validate", "apply"]))
def test_plan_json(raw: bytes, command: str) -> None:
    with variant(PLAN, raw, unjournaled=True) as work:
        args = [command, G.folder] + (RUN_ARGS if command == "apply" else [])
        outcome = run(f"plan.json ({command})", args, work)
        assert_runs_only_the_genuine(outcome, raw, PLAN)


@campaign(1400)
@given(raw=json_variants(G.bytes_of(ROLLBACK)), command=st.sampled_from(["validate", "rollback"]))
def test_rollback_json(raw: bytes, command: str) -> None:
    with variant(ROLLBACK, raw) as work:
        args = [command, G.folder] + (RUN_ARGS if command == "rollback" else [])
        outcome = run(f"rollback.json ({command})", args, work)
        assert_runs_only_the_genuine(outcome, raw, ROLLBACK)


@campaign(600)
@given(raw=text_variants(G.bytes_of(README)))
def test_readme(raw: bytes) -> None:
    with variant(README, raw) as work:
        outcome = run("README.md (validate)", ["validate", G.folder], work)
        if raw != G.bytes_of(README):
            assert outcome.exit_code == ExitCode.MANIFEST, outcome.output[-1500:]


@campaign(1200)
@given(raw=json_variants(G.bytes_of(JOURNAL)), command=st.sampled_from(["apply", "rollback"]))
def test_journal_json(raw: bytes, command: str) -> None:
    with variant(JOURNAL, raw) as work:
        run(
            f"journal.json ({command})",
            [command, G.folder, "--config", "reclaim.yml", "--wait", "0"],
            work,
        )


# ---- the default branch's files and reclaim's own outputs -------------------------------------


@campaign(1200)
@given(
    raw=yaml_variants(G.bytes_of("reclaim.yml")),
    command=st.sampled_from(["apply", "merge-state", "gate-rollback"]),
)
def test_reclaim_yml(raw: bytes, command: str) -> None:
    args = {
        "apply": ["apply", G.folder, "--config", "reclaim.yml", "--wait", "0"],
        "merge-state": ["merge-state", "findings.json", "--config", "reclaim.yml"],
        "gate-rollback": [
            "gate-rollback",
            "--config",
            "reclaim-github.yml",
            "--event",
            "comment.json",
        ],
    }[command]
    with variant("reclaim.yml", raw, unjournaled=True) as work:
        _write(work, "reclaim-github.yml", raw + b"\nforge: {type: github, repository: acme/ops}\n")
        run(f"reclaim.yml ({args[0]})", args, work, env=GITHUB_TOKEN)


@campaign(1500)
@given(
    raw=json_variants(G.bytes_of("findings.json")),
    command=st.sampled_from(["plan", "merge-findings", "merge-state"]),
)
def test_findings_report(raw: bytes, command: str) -> None:
    args = {
        "plan": ["plan", "--findings", "in.json", "--out", "planned"],
        "merge-findings": ["merge-findings", "in.json", "--output", "merged.json"],
        "merge-state": ["merge-state", "in.json", "--config", "reclaim.yml"],
    }[command]
    with variant("in.json", raw) as work:
        outcome = run(f"findings report ({command})", args, work)
        if command == "plan" and outcome.exit_code == ExitCode.OK:
            planned = work / "planned"
            for folder in sorted(planned.iterdir()) if planned.exists() else []:
                checked = run(
                    "findings report (validate what plan wrote)", ["validate", str(folder)], work
                )
                assert checked.exit_code == ExitCode.OK, checked.output[-1500:]


@campaign(800)
@given(
    raw=json_variants(G.bytes_of(".reclaim/state.json")),
    command=st.sampled_from(["merge-state", "apply"]),
)
def test_state_file(raw: bytes, command: str) -> None:
    args = {
        "merge-state": ["merge-state", "findings.json", "--config", "reclaim.yml"],
        "apply": ["apply", G.folder, "--config", "reclaim.yml", "--wait", "0"],
    }[command]
    with variant(".reclaim/state.json", raw, unjournaled=True) as work:
        run(f"state file ({command})", args, work)


@campaign(500)
@given(raw=json_variants(G.bytes_of("results.json")))
def test_results_file(raw: bytes) -> None:
    with variant("results.json", raw) as work:
        run(
            "results file (comment-results)",
            ["comment-results", "--config", "reclaim.yml", "--results", "results.json"],
            work,
        )


# ---- GitHub's webhook payloads ---------------------------------------------------------------


@campaign(800)
@given(raw=json_variants(G.bytes_of("comment.json")))
def test_issue_comment_event(raw: bytes) -> None:
    with variant("comment.json", raw) as work:
        run(
            "issue_comment event (gate-rollback)",
            ["gate-rollback", "--config", "reclaim-github.yml", "--event", "comment.json"],
            work,
            env=GITHUB_TOKEN,
        )


@campaign(500)
@given(raw=json_variants(G.bytes_of("push.json")))
def test_push_event(raw: bytes) -> None:
    with variant("push.json", raw, unjournaled=True) as work:
        run(
            "push event (apply-merged)",
            [
                "apply-merged",
                "--config",
                "reclaim.yml",
                "--event",
                "push.json",
                "--results",
                "out.json",
            ],
            work,
        )


@campaign(400)
@given(raw=json_variants(G.bytes_of("pull_request.json")))
def test_pull_request_event(raw: bytes) -> None:
    with variant("pull_request.json", raw) as work:
        run(
            "pull_request event (validate-changed)",
            ["validate-changed", "--config", "reclaim-github.yml", "--base", "HEAD",
             "--event", "pull_request.json"],
            work,
            env=GITHUB_TOKEN,
        )  # fmt: skip


def test_every_reader_refuses_a_file_over_its_limit_unread() -> None:
    """Size is checked before parsing: 9 MiB of a valid-looking document is one message."""
    huge = b'{"padding": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    cases = [
        (PLAN, ["validate", G.folder], ExitCode.MANIFEST),
        (JOURNAL, ["apply", G.folder, "--config", "reclaim.yml", "--wait", "0"], ExitCode.MANIFEST),
        ("findings.json", ["plan", "--findings", "findings.json", "--out", "p"], ExitCode.MANIFEST),
        (
            ".reclaim/state.json",
            ["merge-state", "findings.json", "--config", "reclaim.yml"],
            ExitCode.CONFIG,
        ),
        (
            "comment.json",
            ["gate-rollback", "--config", "reclaim-github.yml", "--event", "comment.json"],
            ExitCode.CONFIG,
        ),
        ("reclaim.yml", ["apply", G.folder, "--config", "reclaim.yml"], ExitCode.CONFIG),
    ]
    for relative, args, code in cases:
        with variant(relative, huge) as work:
            outcome = run(f"{relative} (over the limit)", args, work, env=GITHUB_TOKEN)
            assert outcome.exit_code == code, (relative, outcome.output[-800:])
            assert "MiB: refused unread" in outcome.output, outcome.output[-800:]
            assert outcome.aws_calls == [] and outcome.github_requests == []


def _genuine_proposals() -> bytes:
    from generator.held import ProposalsFile

    held = ProposalsFile(
        as_of=datetime(2026, 3, 1, tzinfo=UTC),
        open=("ec2-idle-123456789012-us-east-1-i-0123456789abcdef0",),
        open_count=1,
        merged=("ebs-unattached-123456789012-us-east-1-vol-0123456789abcdef0",),
        declined={"logs-retention-123456789012-us-east-1-aws-lambda-app": 12.5},
    )
    return held.model_dump_json(indent=2).encode()


@campaign(400)
@given(raw=json_variants(_genuine_proposals()))
def test_proposals_file(raw: bytes) -> None:
    """What the scan reads to choose which findings to confirm: any bytes are the file, or
    one reason it is not (a scan warning), never an exception."""
    import tempfile

    from generator.held import load_held

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "proposals.json"
        path.write_bytes(raw)
        held, why = load_held(path, 2.0)
    assert (held is None) != (why is None)
    if held is not None:
        assert held.open_count >= 0 and held.budget(10, 5) in range(6)
        assert all(usd >= 0 for usd in held.declined.values())
