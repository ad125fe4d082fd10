"""The run steps of the generated apply and rollback workflows, executed as a runner would,
with real webhook payloads as GITHUB_EVENT_PATH, against moto and the GitHub stand-in."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.pipeline.scenario import REPOSITORY, TOKEN, Opened, Pipeline, make_pipeline
from tests.pipeline.webhooks import push, rollback_comment


@pytest.fixture
def opened(tmp_path, standin, moto_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    pipeline = make_pipeline(tmp_path, standin, moto_server)
    return Opened(pipeline, *pipeline.open_pr(monkeypatch))


@pytest.fixture
def applied(opened: Opened) -> Opened:
    pipeline = opened.pipeline
    before = pipeline.main_sha()
    after = pipeline.standin.human_merge(opened.number)
    run = pipeline.run(
        "reclaim-apply",
        "apply",
        push(repository=REPOSITORY, before=before, after=after),
        actor="alice",
    )
    assert run.skipped_because is None and not run.failed, [
        (s.name, s.returncode, s.stdout[-2000:], s.stderr[-2000:]) for s in run.steps
    ]
    return opened


def journal(pipeline: Pipeline, folder: str) -> dict[str, object]:
    text = pipeline.origin_file(f"{folder}/journal.json")
    assert text is not None, "no journal on main"
    return json.loads(text)  # type: ignore[no-any-return]


def volumes(pipeline: Pipeline) -> list[dict[str, object]]:
    return pipeline.ec2().describe_volumes()["Volumes"]  # type: ignore[no-any-return]


def test_a_merged_plan_is_applied_journaled_and_reported(applied: Opened) -> None:
    pipeline = applied.pipeline
    assert not [v for v in volumes(pipeline) if v["VolumeId"] == applied.volume]
    snapshots = pipeline.ec2().describe_snapshots(
        Filters=[{"Name": "tag:reclaim:plan-id", "Values": [applied.finding]}]
    )["Snapshots"]
    assert len(snapshots) == 1
    assert journal(pipeline, applied.folder)["apply"]["status"] == "completed"  # type: ignore[index]
    pull = pipeline.standin.pulls[applied.number]
    assert "reclaim:applied" in pull.labels
    (result,) = [c for c in pipeline.standin.comments_on(applied.number) if "### Applied" in c.body]
    assert snapshots[0]["SnapshotId"] in result.body


def test_a_second_push_applies_nothing_twice(applied: Opened) -> None:
    pipeline = applied.pipeline
    head = pipeline.main_sha()
    run = pipeline.run(
        "reclaim-apply",
        "apply",
        push(repository=REPOSITORY, before=head, after=head),
        actor="alice",
    )
    assert not run.failed
    assert "nothing to apply" in run.step("Apply every merged plan without a journal").stdout


def gate_then_rollback(opened: Opened, payload: dict[str, object], actor: str):  # type: ignore[no-untyped-def]
    pipeline = opened.pipeline
    # The job's `if` is only a pre-filter: run the gate regardless, reclaim must decide.
    gate = pipeline.run("reclaim-rollback", "gate", payload, actor=actor, honour_job_if=False)
    assert not gate.failed, [(s.name, s.stdout, s.stderr) for s in gate.steps]
    rollback = pipeline.run(
        "reclaim-rollback",
        "rollback",
        payload,
        actor=actor,
        needs={"gate": {"outputs": gate.outputs}},
    )
    return gate, rollback


def test_rollback_from_a_writer_restores_the_volume(applied: Opened) -> None:
    pipeline = applied.pipeline
    cid = pipeline.standin.human_comment(applied.number, "alice", "/rollback")
    payload = rollback_comment(
        repository=REPOSITORY,
        number=applied.number,
        login="alice",
        body="/rollback",
        comment_id=cid,
    )
    gate, rollback = gate_then_rollback(applied, payload, "alice")
    assert gate.outputs == {"allowed": "true", "folder": applied.folder, "pr": str(applied.number)}
    assert (cid, "eyes", "reclaim-bot") in pipeline.standin.reactions
    assert rollback.skipped_because is None and not rollback.failed, [
        (s.name, s.stdout[-1500:], s.stderr[-1500:]) for s in rollback.steps
    ]
    restored = [v for v in volumes(pipeline) if v.get("SnapshotId")]
    assert len(restored) == 1 and restored[0]["State"] == "available"
    assert restored[0]["Size"] == 50 and restored[0]["VolumeType"] == "gp3"
    record = journal(pipeline, applied.folder)
    assert record["rollback"]["status"] == "completed"  # type: ignore[index]
    assert record["rollback"]["actor"] == "alice"  # type: ignore[index]
    assert "reclaim:rolled-back" in pipeline.standin.pulls[applied.number].labels


@pytest.mark.parametrize(
    ("login", "bot", "reason", "answered"),
    [
        ("rob", False, "has 'read' permission", False),
        ("dependabot", True, "is a bot", False),
    ],
)
def test_rollback_refused_for_readers_and_bots(
    applied: Opened, login: str, bot: bool, reason: str, answered: bool
) -> None:
    pipeline = applied.pipeline
    author = f"{login}[bot]" if bot else login
    cid = pipeline.standin.human_comment(applied.number, author, "/rollback now")
    payload = rollback_comment(
        repository=REPOSITORY,
        number=applied.number,
        login=login,
        bot=bot,
        body="/rollback now",
        comment_id=cid,
    )
    before = volumes(pipeline)
    gate, rollback = gate_then_rollback(applied, payload, author)
    assert gate.outputs["allowed"] == "false"
    assert reason in gate.steps[-1].stdout
    assert rollback.skipped_because is not None and rollback.steps == []
    assert volumes(pipeline) == before
    assert (
        "rollback" not in journal(pipeline, applied.folder)
        or journal(pipeline, applied.folder)["rollback"] is None
    )
    replies = [
        c for c in pipeline.standin.comments_on(applied.number) if "will not roll back" in c.body
    ]
    assert bool(replies) is answered
    assert any(r[0] == cid for r in pipeline.standin.reactions) is answered
    # nothing reclaim posted names the commenter
    assert not [c for c in pipeline.standin.comments_on(applied.number) if f"@{login}" in c.body]


def test_rollback_refused_on_an_unmerged_pull_request(opened: Opened) -> None:
    pipeline = opened.pipeline
    cid = pipeline.standin.human_comment(opened.number, "alice", "/rollback")
    payload = rollback_comment(
        repository=REPOSITORY, number=opened.number, login="alice", body="/rollback", comment_id=cid
    )
    before = volumes(pipeline)
    gate, rollback = gate_then_rollback(opened, payload, "alice")
    assert gate.outputs["allowed"] == "false" and "is not merged" in gate.steps[-1].stdout
    assert rollback.skipped_because is not None
    assert volumes(pipeline) == before
    assert (cid, "-1", "reclaim-bot") in pipeline.standin.reactions


def test_rollback_refused_on_a_plain_issue(applied: Opened) -> None:
    pipeline = applied.pipeline
    number = pipeline.standin.human_issue("The volume vanished")
    cid = pipeline.standin.human_comment(number, "alice", "/rollback")
    payload = rollback_comment(
        repository=REPOSITORY,
        number=number,
        login="alice",
        on_pull_request=False,
        body="/rollback",
        comment_id=cid,
    )
    before = volumes(pipeline)
    skipped = pipeline.run("reclaim-rollback", "gate", payload, actor="alice")
    assert skipped.skipped_because is not None  # the workflow's own pre-filter
    gate, rollback = gate_then_rollback(applied, payload, "alice")
    assert gate.outputs["allowed"] == "false" and "is an issue" in gate.steps[-1].stdout
    assert rollback.skipped_because is not None
    assert volumes(pipeline) == before


def test_racing_pushes_lose_no_plan_and_no_journal(
    tmp_path,
    standin,
    moto_server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    """Two merges in a row: GitHub cancels the first push's pending run when the second
    arrives (one pending run per concurrency group), so the second run must apply both. And
    while it runs, someone else pushes to main: its journal commit rebases onto that."""
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    pipeline = make_pipeline(tmp_path, standin, moto_server)
    (first, second) = pipeline.open_prs(monkeypatch, count=2)
    pipeline.standin.human_merge(first[0])
    between = pipeline.main_sha()
    after = pipeline.standin.human_merge(second[0])
    stale_checkout = pipeline.checkout()
    unrelated = pipeline.push_unrelated_commit("NOTES.md")
    run = pipeline.run(
        "reclaim-apply",
        "apply",
        push(repository=REPOSITORY, before=between, after=after),  # only the second merge
        actor="alice",
        workdir=stale_checkout,
    )
    assert not run.failed, [(s.name, s.stdout[-1500:], s.stderr[-1500:]) for s in run.steps]
    remaining = {v["VolumeId"] for v in volumes(pipeline)}
    for number, finding, volume in (first, second):
        assert volume not in remaining
        assert journal(pipeline, f"remediations/{finding}")["apply"]["status"] == "completed"  # type: ignore[index]
        assert "reclaim:applied" in pipeline.standin.pulls[number].labels
    assert (pipeline.origin_file("NOTES.md") or "").strip() == "unrelated"
    assert (
        subprocess.run(
            ["git", "merge-base", "--is-ancestor", unrelated, "refs/heads/main"],
            cwd=pipeline.origin,
            check=False,
        ).returncode
        == 0
    )


def test_a_strangers_comment_cannot_cancel_or_queue_behind_a_writers_rollback(
    applied: Opened,
) -> None:
    """GitHub keeps one pending run per concurrency group and cancels the older: the groups,
    as GitHub evaluates them for a writer's and then a stranger's comment, never coincide."""
    from tests.pipeline.harness import interpolate

    pipeline = applied.pipeline
    workflow = pipeline.workflows["reclaim-rollback"]
    groups = {}
    for login, cid, allowed, run_id in (
        ("alice", 101, "true", "9001"),
        ("rob", 102, "false", "9002"),
    ):
        payload = rollback_comment(
            repository=REPOSITORY,
            number=applied.number,
            login=login,
            body="/rollback",
            comment_id=cid,
        )
        contexts = {
            "github": {"event": payload, "run_id": run_id},
            "needs": {"gate": {"outputs": {"allowed": allowed, "pr": str(applied.number)}}},
        }
        groups[login] = {
            job: interpolate(workflow["jobs"][job]["concurrency"]["group"], contexts)
            for job in ("gate", "rollback")
        }
        assert all(
            workflow["jobs"][job]["concurrency"]["cancel-in-progress"] is False
            for job in ("gate", "rollback")
        )
    assert groups["alice"]["gate"] != groups["rob"]["gate"]
    assert groups["alice"]["rollback"] == f"reclaim-rollback-{applied.number}"
    assert groups["rob"]["rollback"] not in (groups["alice"]["rollback"], groups["alice"]["gate"])
    assert "concurrency" not in workflow  # no workflow-wide group either
