"""The run steps of the generated apply and rollback workflows, executed as a runner would,
with real webhook payloads as GITHUB_EVENT_PATH, against moto and a local origin."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pipeline.harness import run_job
from tests.pipeline.scenario import REPOSITORY, make_pipeline, moto_server  # noqa: F401
from tests.pipeline.webhooks import push


def github_context(event: dict[str, object], name: str, sha: str) -> dict[str, object]:
    return {
        "event_name": name,
        "event": event,
        "repository": REPOSITORY,
        "actor": "alice",
        "run_id": "4242",
        "sha": sha,
        "ref": "refs/heads/main",
        "token": "test-token",
    }


def test_a_merged_plan_is_applied_and_its_journal_committed(
    tmp_path: Path,
    moto_server: str,  # noqa: F811
) -> None:
    pipeline = make_pipeline(tmp_path, moto_server)
    finding_id, volume_id, before, after = pipeline.merge_remediation_pr()
    payload = push(repository=REPOSITORY, before=before, after=after)
    run = run_job(
        pipeline.workflows["reclaim-apply"],
        "apply",
        workdir=pipeline.checkout("apply-run"),
        event_path=pipeline.event("push", payload),
        github=github_context(payload, "push", after),
        secrets={},
        aws_env=pipeline.aws_env,
        extra_env={"GITHUB_SERVER_URL": "https://github.invalid"},
    )
    applied = run.step("Apply every merged plan without a journal")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "completed" in applied.stdout
    committed = run.step("Commit the journals")
    assert committed.returncode == 0, committed.stderr
    assert not pipeline.ec2().describe_volumes(
        Filters=[{"Name": "volume-id", "Values": [volume_id]}]
    )["Volumes"]
    journal = pipeline.origin_file(f"remediations/{finding_id}/journal.json")
    assert journal is not None and json.loads(journal)["apply"]["status"] == "completed"
