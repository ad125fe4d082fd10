"""Fresh before merge: the scheduled scan's last job re-checks every open reclaim PR against
live AWS (moto) with the default branch's reclaim.yml, and sets the reclaim/fresh commit
status on the head commit it checked (GitHub stand-in, every request and response checked
against GitHub's API description)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.pipeline.scan_scenario import ScanRun, make_scan_pipeline, scheduled_scan
from tests.pipeline.scenario import REGION, TOKEN, Pipeline, git

CONTEXT = "reclaim/fresh"


@pytest.fixture
def pipeline(tmp_path, standin, moto_server, monkeypatch) -> Pipeline:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    return make_scan_pipeline(tmp_path, standin, moto_server)


def _ok(run: ScanRun) -> None:
    assert not run.failures(), run.failures()
    assert run.fresh.skipped_because is None


def _open(pipeline: Pipeline) -> dict[str, int]:
    """Volume ID → number of its open PR."""
    return {
        p.head_ref.rsplit("-", 2)[-2] + "-" + p.head_ref.rsplit("-", 1)[-1]: p.number
        for p in pipeline.standin.pulls.values()
        if p.state == "open"
    }


def _head(pipeline: Pipeline, number: int) -> str:
    pull = pipeline.standin.pulls[number]
    sha = pipeline.standin.git.ref(f"refs/heads/{pull.head_ref}")
    assert sha
    return sha


def _attach(pipeline: Pipeline, volume: str) -> None:
    """Someone attaches the volume to an instance: it is in use again."""
    ec2 = pipeline.ec2_in(REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        Placement={"AvailabilityZone": f"{REGION}a"},
    )["Instances"][0]["InstanceId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")


def _forge_plan(pipeline: Pipeline, number: int) -> str:
    """A branch author pushes a commit to the PR that edits its plan: returns the new head."""
    pull = pipeline.standin.pulls[number]
    clone = pipeline.checkout()
    git(clone, "fetch", "-q", "origin", pull.head_ref)
    git(clone, "checkout", "-q", "-B", "forged", "FETCH_HEAD")
    folder = clone / "remediations" / pull.head_ref.removeprefix("reclaim/")
    plan = json.loads((folder / "plan.json").read_text())
    plan["steps"] = [s for s in plan["steps"] if s["phase"] != "backup"]  # no snapshot first
    (folder / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    git(clone, "commit", "-q", "-am", "simplify the plan")
    git(clone, "push", "-q", "origin", f"HEAD:refs/heads/{pull.head_ref}")
    return git(clone, "rev-parse", "HEAD")


def test_every_open_pr_head_gets_a_fresh_status_from_live_aws(pipeline: Pipeline) -> None:
    ec2 = pipeline.ec2_in(REGION)
    volumes = [
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=size, VolumeType="gp3")["VolumeId"]
        for size in (20, 30, 40)
    ]
    day0 = datetime.now(UTC).replace(microsecond=0)
    _ok(scheduled_scan(pipeline, day0))
    assert pipeline.standin.statuses == []  # no PR yet: nothing to check

    day10 = day0 + timedelta(days=10)
    first = scheduled_scan(pipeline, day10)
    _ok(first)
    opened = _open(pipeline)
    assert sorted(opened) == sorted(volumes)
    for volume, number in opened.items():
        status = pipeline.standin.status_of(_head(pipeline, number), CONTEXT)
        assert status is not None, volume
        assert status.state == "success", status.description
        assert status.description is not None
        assert status.description.startswith(
            f"still idle as of {day10:%Y-%m-%d %H:%M} UTC: re-observed, "
        )
        assert "pre-check(s) pass" in status.description
        assert status.target_url and status.target_url.endswith(f"/runs/{first.run_id}")
    assert len(pipeline.standin.statuses) == len(volumes)  # one per head, nothing else

    in_use, forged_pr, untouched = volumes
    old_head = _head(pipeline, opened[forged_pr])
    forged_head = _forge_plan(pipeline, opened[forged_pr])
    day11 = day10 + timedelta(days=1)
    # The volume is attached after propose ran (or in a unit whose scan failed): the PR is
    # still open when the re-check looks.
    second = scheduled_scan(pipeline, day11, before_fresh=lambda: _attach(pipeline, in_use))
    _ok(second)
    assert _open(pipeline) == opened  # propose closed nothing (it saw them idle)

    changed = pipeline.standin.status_of(_head(pipeline, opened[in_use]), CONTEXT)
    assert changed is not None and changed.state == "failure"
    assert changed.description is not None
    assert changed.description.startswith(f"changed as of {day11:%Y-%m-%d %H:%M} UTC: ")
    assert in_use in changed.description and "does not find" in changed.description
    assert len(changed.description) <= 140

    # The forged head is checked as what it is, never as the plan reclaim wrote
    forged = pipeline.standin.status_of(forged_head, CONTEXT)
    assert forged is not None and forged.state == "failure", forged
    assert forged.description and "the folder is not reclaim's" in forged.description
    assert not any(s.sha == forged_head and s.state == "success" for s in pipeline.standin.statuses)
    old = pipeline.standin.status_of(old_head, CONTEXT)
    assert old is not None and old.state == "success"  # set on the SHA checked then, not moved

    fine = pipeline.standin.status_of(_head(pipeline, opened[untouched]), CONTEXT)
    assert fine is not None and fine.state == "success"
    assert fine.description and f"as of {day11:%Y-%m-%d %H:%M} UTC" in fine.description

    lines = second.fresh.step("Re-check every open reclaim pull request (read-only)").stdout
    assert f"#{opened[in_use]} failure" in lines and f"#{opened[untouched]} success" in lines
    # The volume the re-check saw attached is left as it is: the check is read-only
    (seen,) = pipeline.ec2_in(REGION).describe_volumes(VolumeIds=[in_use])["Volumes"]
    assert seen["State"] == "in-use"
    snapshots = pipeline.ec2_in(REGION).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert not [s for s in snapshots if s.get("VolumeId") in volumes]

    # the next scan sees the attachment, and closes the PR as it always did
    third = scheduled_scan(pipeline, day11 + timedelta(days=1))
    _ok(third)
    assert pipeline.standin.pulls[opened[in_use]].state == "closed"
