"""A merge whose apply fails opens nothing new; the next scheduled re-check (reclaim
check-open, read-only) looks at the resource again and rewrites the PR's result comment:
closed when the finding no longer holds, retryable when it does, the journal attached.
Against moto and the GitHub stand-in (every exchange checked against the API description)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import boto3
import pytest
from rich.console import Console

from generator.config import load_config
from generator.pipeline.freshness import check_open_command
from tests.pipeline.scenario import REGION, REPOSITORY, TOKEN, Opened, Pipeline, make_pipeline
from tests.pipeline.webhooks import push


@pytest.fixture
def opened(tmp_path, standin, moto_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    pipeline = make_pipeline(tmp_path, standin, moto_server)
    return Opened(pipeline, *pipeline.open_pr(monkeypatch))


def _instance(pipeline: Pipeline) -> str:
    ec2 = pipeline.ec2()
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return str(
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            Placement={"AvailabilityZone": f"{REGION}a"},
        )["Instances"][0]["InstanceId"]
    )


def _recheck(pipeline: Pipeline) -> tuple[Any, str]:
    """One scheduled re-check, in a fresh checkout of main: (run, its output)."""
    checkout = pipeline.checkout()
    config = load_config(checkout / "reclaim.yml")

    def client_for(_plan: Any) -> Any:
        return lambda service, region: boto3.client(
            service,
            region_name=region,
            endpoint_url=pipeline.moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    out = Console(record=True, width=200)
    assert pipeline.as_of is not None
    run = check_open_command(
        config,
        datetime.fromisoformat(pipeline.as_of),
        repo_root=checkout,
        out=out,
        err=out,
        environ={"GITHUB_TOKEN": TOKEN, "GITHUB_SERVER_URL": pipeline.standin.web},
        client_for=client_for,
    )
    return run, out.export_text()


def _result_comments(pipeline: Pipeline, number: int) -> list[str]:
    return [c.body for c in pipeline.standin.comments_on(number) if "### Failed" in c.body]


def test_a_failed_apply_is_rechecked_closed_or_retryable_with_its_journal(opened: Opened) -> None:
    pipeline = opened.pipeline
    before = pipeline.main_sha()
    after = pipeline.standin.human_merge(opened.number)
    instance = _instance(pipeline)
    # Between the merge and the apply someone attaches the volume: the apply's pre-check
    # stops it before any change
    pipeline.ec2().attach_volume(VolumeId=opened.volume, InstanceId=instance, Device="/dev/sdf")
    apply = pipeline.run(
        "reclaim-apply",
        "apply",
        push(repository=REPOSITORY, before=before, after=after),
        actor="alice",
    )
    assert apply.failed
    journal_text = pipeline.origin_file(f"{opened.folder}/journal.json")
    assert journal_text is not None
    assert json.loads(journal_text)["apply"]["status"] == "aborted"
    pulls_before = len(pipeline.standin.pulls)
    (failed,) = _result_comments(pipeline, opened.number)
    assert "Re-checked by the scheduled scan" not in failed

    run, output = _recheck(pipeline)
    assert run.complete and run.open_pulls == []
    assert f"failed apply {opened.folder}: failure" in output
    (closed,) = _result_comments(pipeline, opened.number)  # the same comment, rewritten
    assert closed.startswith(failed.split("\n", 1)[0])
    assert "**No longer holds as of" in closed and "Closed: nothing more will be tried" in closed
    assert opened.volume in closed and "It made no backup." in closed
    assert "<summary>journal.json</summary>" in closed and '"status": "aborted"' in closed
    assert len(pipeline.standin.pulls) == pulls_before  # nothing new opened
    (volume,) = pipeline.ec2().describe_volumes(VolumeIds=[opened.volume])["Volumes"]
    assert volume["State"] == "in-use"  # the re-check is read-only

    # Detached again: the finding holds, and the comment says the apply can be retried
    pipeline.ec2().detach_volume(VolumeId=opened.volume, InstanceId=instance, Device="/dev/sdf")
    run, output = _recheck(pipeline)
    assert run.complete
    assert f"failed apply {opened.folder}: success" in output
    (retry,) = _result_comments(pipeline, opened.number)
    assert "**Still holds as of" in retry and "re-run the failed apply run" in retry
    assert "No longer holds" not in retry
    (volume,) = pipeline.ec2().describe_volumes(VolumeIds=[opened.volume])["Volumes"]
    assert volume["State"] == "available"  # still nothing changed by the re-check
    assert len(pipeline.standin.pulls) == pulls_before
