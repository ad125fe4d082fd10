"""Pull requests written to look consistent, run through the generated workflows on a real git
repository (the GitHub stand-in's), with moto for AWS: `reclaim validate-changed` on the pull
request's merge commit, then `reclaim apply-merged` on the push its merge makes. Each test
asserts what did not happen in AWS (the volume is still there, no snapshot was taken), not
only that a command said no."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.forge.codeowners import codeowners_entries
from generator.manifest.folder import RemediationFolder, digest, to_json
from generator.manifest.models import Journal, RunRecord, StepRecord
from tests.pipeline.harness import JobRun
from tests.pipeline.scenario import REPOSITORY, TOKEN, Opened, Pipeline, git, make_pipeline
from tests.pipeline.webhooks import pull_request, push

APPLY_STEP = "Apply every merged plan without a journal"
VALIDATE_STEP = "Validate and summarize the cost"
ACCOUNT = "123456789012"  # moto's
OTHER_ACCOUNT = "222222222222"


@pytest.fixture
def opened(tmp_path, standin, moto_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    pipeline = make_pipeline(tmp_path, standin, moto_server)
    return Opened(pipeline, *pipeline.open_pr(monkeypatch))


def push_to_pr(opened: Opened, edit: Callable[[Path], None], message: str) -> None:
    """Someone with push access to the PR's branch adds a commit to it."""
    pipeline = opened.pipeline
    clone = pipeline.root / f"attacker-{pipeline.runs}"
    pipeline.runs += 1
    git(pipeline.root, "clone", "-q", "--branch", opened.branch, str(pipeline.origin), str(clone))
    edit(clone)
    git(clone, "add", "-A")
    git(clone, "-c", "user.name=mallory", "-c", "user.email=m@x", "commit", "-q", "-m", message)
    git(clone, "push", "-q", "origin", f"HEAD:{opened.branch}")


def validate(opened: Opened) -> JobRun:
    """The validate workflow on the PR: its checkout is the merge of the PR into main."""
    pipeline = opened.pipeline
    workdir = pipeline.checkout()
    git(workdir, "fetch", "-q", "origin", opened.branch)
    git(workdir, "-c", "user.name=gh", "-c", "user.email=g@x", "merge", "-q", "--no-ff",
        "-m", "merge", "FETCH_HEAD")  # fmt: skip
    return pipeline.run(
        "reclaim-validate",
        "validate",
        pull_request(repository=REPOSITORY, number=opened.number),
        actor="mallory",
        workdir=workdir,
    )


def merge_and_apply(opened: Opened) -> JobRun:
    """The PR is merged anyway (an admin bypassing the check), and the apply workflow runs."""
    pipeline = opened.pipeline
    before = pipeline.main_sha()
    after = pipeline.standin.human_merge(opened.number)
    return pipeline.run(
        "reclaim-apply", "apply", push(repository=REPOSITORY, before=before, after=after),
        actor="alice",
    )  # fmt: skip


def snapshots(pipeline: Pipeline) -> list[dict[str, Any]]:
    """This account's snapshots (moto also lists its public AMIs' ones)."""
    found = pipeline.ec2().describe_snapshots()["Snapshots"]
    return [s for s in found if s["OwnerId"] == ACCOUNT]


def volume_ids(pipeline: Pipeline) -> set[str]:
    return {v["VolumeId"] for v in pipeline.ec2().describe_volumes()["Volumes"]}


def assert_untouched(opened: Opened, *, existing: int = 0) -> None:
    """The volume is still there and no snapshot was taken (``existing``: the test's own)."""
    assert opened.volume in volume_ids(opened.pipeline)
    assert len(snapshots(opened.pipeline)) == existing


def no_traceback(run: JobRun) -> None:
    for step in run.steps:
        assert "Traceback" not in step.stderr + step.stdout, (step.name, step.stderr[-3000:])


def comments(opened: Opened) -> str:
    return "\n".join(c.body for c in opened.pipeline.standin.comments_on(opened.number))


# ---- attack 1: a journal in the PR claiming pre-check, backup and dry run completed --------


def forged_journal(folder: Path, snapshot_id: str) -> str:
    remediation = RemediationFolder(folder)
    plan = remediation.load_plan()
    now = datetime.now(UTC)
    steps = [
        StepRecord(
            step_id=step.id,
            status="completed",
            started_at=now,
            finished_at=now,
            outputs={name: snapshot_id for name in step.outputs},
        )
        for step in plan.steps
        if step.phase in ("precheck", "backup", "dry_run")
    ]
    assert any(s.step_id for s in steps)
    journal = Journal(
        plan_id=plan.plan_id,
        plan_sha256=digest(remediation.plan_text()),
        rollback_sha256=digest(remediation.rollback_text()),
        apply=RunRecord(kind="apply", status="failed", started_at=now, actor="alice", steps=steps),
    )
    return to_json(journal)


def test_a_journal_in_the_pr_is_refused_and_nothing_is_deleted(opened: Opened) -> None:
    # Some other volume's snapshot stands in for the backup that was never taken.
    ec2 = opened.pipeline.ec2()
    other = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    decoy = ec2.create_snapshot(VolumeId=other)["SnapshotId"]

    def add_journal(clone: Path) -> None:
        folder = clone / opened.folder
        (folder / "journal.json").write_text(forged_journal(folder, decoy))

    push_to_pr(opened, add_journal, "resume where the last run stopped")
    checked = validate(opened)
    step = checked.step(VALIDATE_STEP)
    assert step.returncode == 4, (step.stdout[-2000:], step.stderr[-2000:])
    assert "journals are written only by reclaim's apply and rollback runs" in step.stdout
    assert "journal.json" in comments(opened)  # the summary comment says why

    run = merge_and_apply(opened)
    # Believing the journal, apply deleted the volume "after" the decoy backup: not any more.
    assert_untouched(opened, existing=1)
    no_traceback(run)
    applied = run.step(APPLY_STEP)
    assert applied.returncode == 6  # invalid counts as failed
    assert "invalid" in applied.stdout and "arrived in the same push as its plan" in applied.stdout
    assert "refused this remediation before it changed anything" in comments(opened), [
        (s.name, s.returncode, s.stdout[-3000:], s.stderr[-3000:]) for s in run.steps[1:]
    ]
    # the next push does not pick it up either: it has a journal, and nothing else ran it
    head = opened.pipeline.main_sha()
    again = opened.pipeline.run(
        "reclaim-apply", "apply", push(repository=REPOSITORY, before=head, after=head),
        actor="alice",
    )  # fmt: skip
    no_traceback(again)
    assert_untouched(opened, existing=1)


# ---- attack 6: an invalid UTF-8 plan.json pushed with a genuine folder ---------------------


def test_a_malformed_folder_is_reported_invalid_and_the_genuine_one_is_applied(
    opened: Opened,
) -> None:
    junk = f"ebs-unattached-{ACCOUNT}-us-east-1-vol-0ffffffffffffffff"

    def add_malformed(clone: Path) -> None:
        bad = clone / "remediations" / junk
        bad.mkdir()
        (bad / "plan.json").write_bytes(b'{"plan_id": "\xff\xfe\x00"}\n')
        shutil.copy(clone / opened.folder / "rollback.json", bad / "rollback.json")

    push_to_pr(opened, add_malformed, "one more")
    checked = validate(opened)
    no_traceback(checked)
    assert checked.step(VALIDATE_STEP).returncode == 4

    run = merge_and_apply(opened)
    no_traceback(run)
    applied = run.step(APPLY_STEP)
    assert applied.returncode == 6
    assert f"invalid  remediations/{junk}" in applied.stdout
    assert "UTF-8" in applied.stdout
    pipeline = opened.pipeline
    assert opened.volume not in volume_ids(pipeline)  # the genuine plan was applied
    (snapshot,) = snapshots(pipeline)
    assert {"Key": "reclaim:plan-id", "Value": opened.finding} in snapshot["Tags"]
    journal = json.loads(pipeline.origin_file(f"{opened.folder}/journal.json") or "{}")
    assert journal["apply"]["status"] == "completed"
    assert pipeline.origin_file(f"remediations/{junk}/journal.json") is None
    # a later run meets the malformed folder again: reported again, no traceback
    head = pipeline.main_sha()
    again = pipeline.run(
        "reclaim-apply", "apply", push(repository=REPOSITORY, before=head, after=head),
        actor="alice",
    )  # fmt: skip
    no_traceback(again)
    later = again.step(APPLY_STEP)
    assert later.returncode == 6 and f"invalid  remediations/{junk}" in later.stdout
    assert len(snapshots(pipeline)) == 1


# ---- attack 7: a plan in a folder named for another account --------------------------------


def test_a_plan_in_a_folder_named_for_another_account_is_refused_everywhere(
    opened: Opened,
) -> None:
    assert opened.finding.startswith(f"ebs-unattached-{ACCOUNT}-")
    disguised = opened.finding.replace(ACCOUNT, OTHER_ACCOUNT)

    def rename(clone: Path) -> None:
        git(clone, "mv", opened.folder, f"remediations/{disguised}")

    push_to_pr(opened, rename, "move to the dev account's folder")
    # CODEOWNERS would have sent this folder to the other account's owners: which is why
    # the name must be the derived one, and that one is routed to the plan's own account.
    block = codeowners_entries({ACCOUNT: ["@acme/prod"], OTHER_ACCOUNT: ["@acme/dev"]})
    pattern = {line.split()[0]: line.split()[1] for line in block.splitlines()[1:-1]}
    assert pattern[f"/remediations/ebs-unattached-{OTHER_ACCOUNT}-*/"] == "@acme/dev"
    assert pattern[f"/remediations/ebs-unattached-{ACCOUNT}-*/"] == "@acme/prod"

    checked = validate(opened)
    step = checked.step(VALIDATE_STEP)
    assert step.returncode == 4
    assert f"folder name is '{disguised}'" in step.stdout.replace("\n", "")

    local = opened.pipeline.checkout()
    git(local, "fetch", "-q", "origin", opened.branch)
    git(local, "checkout", "-q", "FETCH_HEAD")
    refused = CliRunner().invoke(main, ["validate", str(local / "remediations" / disguised)])
    assert refused.exit_code == 4, refused.output
    assert opened.finding in refused.output  # names the ID the plan derives

    run = merge_and_apply(opened)
    no_traceback(run)
    applied = run.step(APPLY_STEP)
    assert applied.returncode == 6 and f"invalid  remediations/{disguised}" in applied.stdout
    assert_untouched(opened)


# ---- the README the reviewer read says something else than the plan -----------------------


def test_a_readme_that_says_something_else_than_the_plan_is_refused(opened: Opened) -> None:
    def soften(clone: Path) -> None:
        readme = clone / opened.folder / "README.md"
        lines = readme.read_text().splitlines(keepends=True)
        lines[0] = "## reclaim: add a cost-center tag (no data is deleted)\n"
        readme.write_text("".join(lines))

    push_to_pr(opened, soften, "clearer title")
    checked = validate(opened)
    step = checked.step(VALIDATE_STEP)
    assert step.returncode == 4
    said = step.stdout.replace("\n", "")
    assert "README.md is not what reclaim renders from plan.json: line 1 is" in said
    assert "add a cost-center tag" in said

    run = merge_and_apply(opened)
    no_traceback(run)
    applied = run.step(APPLY_STEP)
    assert applied.returncode == 6 and "README.md is not what reclaim renders" in applied.stdout
    assert_untouched(opened)


# ---- the first-seen clocks are the scan's, never a pull request's --------------------------


def test_a_pr_that_edits_the_first_seen_clocks_is_refused(opened: Opened) -> None:
    """apply judges age thresholds with the default branch's state file: a PR that backdates
    a clock (so a fresh volume looks idle for months) fails validation."""

    def backdate(clone: Path) -> None:
        # start from main's clocks (the scan committed them there), so the PR merges cleanly
        git(clone, "-c", "user.name=mallory", "-c", "user.email=m@x", "pull", "-q",
            "--no-rebase", "--no-edit", "origin", "main")  # fmt: skip
        path = clone / ".reclaim" / "state.json"
        path.parent.mkdir(exist_ok=True)
        key = f"{ACCOUNT}/us-east-1/{opened.volume}"
        state = {"first_seen": {"ebs-unattached": {key: "2020-01-01T00:00:00Z"}}}
        path.write_text(json.dumps(state))

    push_to_pr(opened, backdate, "fix clocks")
    step = validate(opened).step(VALIDATE_STEP)
    assert step.returncode == 4, (step.stdout[-2000:], step.stderr[-2000:])
    assert "first-seen clocks are written only by the scheduled scan" in step.stdout
    assert_untouched(opened)
