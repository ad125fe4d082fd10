"""reclaim-scan.yml run end to end, as scheduled runs days apart: the clock job, a matrix of
shard jobs on fresh checkouts, artifacts, then propose, against moto and the GitHub stand-in.

Ages that AWS keeps no record of (an address's disassociation, a volume's detach when
CloudTrail cannot answer) are counted from the first-seen clocks, so they reach their
thresholds in CI only if every run starts from the clocks the previous run committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator.aws.units import Unit, shard_of
from generator.held import ProposalsFile
from tests.pipeline.scan_scenario import (
    REGIONS,
    SHARDS,
    STATE,
    ScanRun,
    committed_clocks,
    make_scan_pipeline,
    scheduled_scan,
)
from tests.pipeline.scenario import TOKEN, Pipeline, git

ACCOUNT = "123456789012"  # moto's account for ambient credentials


def _seed(pipeline: Pipeline) -> dict[str, tuple[str, str]]:
    """An unattached volume and an unassociated address in each region:
    resource ID → (rule, region)."""
    seeded = {}
    for region in REGIONS:
        ec2 = pipeline.ec2_in(region)
        volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=20, VolumeType="gp3")
        seeded[volume["VolumeId"]] = ("ebs-unattached", region)
        address = ec2.allocate_address(Domain="vpc")
        seeded[address["AllocationId"]] = ("eip-unassociated", region)
    return seeded


def _clock_keys(seeded: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for resource, (rule, region) in seeded.items():
        keys.setdefault(rule, set()).add(f"{ACCOUNT}/{region}/{resource}")
    return keys


def _ok(run: ScanRun) -> None:
    assert not run.failures(), run.failures()
    assert run.propose.skipped_because is None


@pytest.fixture
def pipeline(tmp_path, standin, moto_server, monkeypatch) -> Pipeline:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", TOKEN)
    return make_scan_pipeline(tmp_path, standin, moto_server)


def test_scheduled_scans_persist_first_seen_clocks_and_leave_unchanged_prs_alone(
    pipeline: Pipeline,
) -> None:
    seeded = _seed(pipeline)
    day0 = datetime.now(UTC).replace(microsecond=0)

    first = scheduled_scan(pipeline, day0)
    _ok(first)
    assert first.clock.outputs == {"as_of": day0.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert len(first.shards) == SHARDS
    # too young for a PR: nothing on GitHub, but the clocks are committed to main
    assert first.api_writes == [] and pipeline.standin.pulls == {}
    clocks = committed_clocks(pipeline)
    assert {rule: set(keys) for rule, keys in clocks.items()} == _clock_keys(seeded)
    assert all(when == day0 for keys in clocks.values() for when in keys.values())
    assert first.main_after != first.main_before
    assert git(pipeline.origin, "log", "-1", "--format=%s %an", "main") == (
        f"reclaim: first-seen clocks of scan run {first.run_id} github-actions[bot]"
    )

    ten_days = scheduled_scan(pipeline, day0 + timedelta(days=10))
    _ok(ten_days)
    # ten days on the committed clocks: every resource is old enough, one PR each
    heads = sorted(p.head_ref for p in pipeline.standin.pulls.values())
    assert heads == sorted(
        f"reclaim/{rule}-{ACCOUNT}-{region}-{resource}"
        for resource, (rule, region) in seeded.items()
    )
    assert all(p.state == "open" for p in pipeline.standin.pulls.values())
    # every shard's scan summarised itself in its job's summary, with its findings' costs
    for index, shard in ten_days.shards.items():
        assert shard.summary.startswith(f"## reclaim scan, shard {index}/{SHARDS}\n"), index
        assert shard.summary.count("## reclaim scan") == 1  # written once, not also redirected
        assert " finding(s), $" in shard.summary
    rows = [s.summary.count(f"| {ACCOUNT} |") for s in ten_days.shards.values()]
    assert sum(rows) == len(seeded), [s.summary for s in ten_days.shards.values()]
    assert committed_clocks(pipeline) == clocks  # kept, not restarted
    # no clock changed, so the only commit is what the forge now holds, for the next scan
    assert git(pipeline.origin, "log", "-1", "--format=%s", "main") == (
        f"reclaim: proposals held after scan run {ten_days.run_id}"
    )
    assert git(
        pipeline.origin, "diff", "--name-only", ten_days.main_before, ten_days.main_after
    ).split() == [str(Path(STATE).parent / "proposals.json")]
    held = ProposalsFile.model_validate_json(
        pipeline.origin_file(str(Path(STATE).parent / "proposals.json")) or ""
    )
    assert sorted(held.open) == sorted(h.removeprefix("reclaim/") for h in heads)
    assert held.open_count == len(seeded)
    body = next(p.body for p in pipeline.standin.pulls.values() if "eip-unassociated" in p.head_ref)
    assert "(10 days)" in body

    twelve_days = scheduled_scan(pipeline, day0 + timedelta(days=12))
    _ok(twelve_days)
    # unchanged findings: not one write but the re-check's status on each PR's head
    assert [e.path.split("/")[-2] for e in twelve_days.api_writes] == ["statuses"] * len(seeded)
    assert committed_clocks(pipeline) == clocks
    assert twelve_days.main_after == twelve_days.main_before
    unchanged = twelve_days.propose.step("Open or update one pull request per finding").stdout
    assert unchanged.count("unchanged") == len(seeded)


def _shard(rule: str, region: str) -> int:
    return shard_of(Unit("prod", region, rule), SHARDS)


def test_a_lost_shard_keeps_its_clocks_and_its_pull_requests(pipeline: Pipeline) -> None:
    """A shard job that never uploads: merge-findings records it as missing (exit 1), the
    other shards' results are still proposed and their clocks committed, and the lost
    shard's units keep their clocks and open PRs. A resource deleted meanwhile in a unit
    that was scanned loses its clock and its PR."""
    seeded = _seed(pipeline)
    day0 = datetime.now(UTC).replace(microsecond=0)
    _ok(scheduled_scan(pipeline, day0))
    _ok(scheduled_scan(pipeline, day0 + timedelta(days=8)))
    assert len(pipeline.standin.pulls) == len(seeded)

    lost = _shard("eip-unassociated", REGIONS[0])
    owner = {resource: _shard(*unit) for resource, unit in seeded.items()}
    scanned_volumes = [r for r, s in owner.items() if s != lost and r.startswith("vol-")]
    assert scanned_volumes, f"precondition: the split {owner} leaves a volume outside shard {lost}"
    deleted = scanned_volumes[0]
    pipeline.ec2_in(seeded[deleted][1]).delete_volume(VolumeId=deleted)
    late = {
        region: pipeline.ec2_in(region).allocate_address(Domain="vpc")["AllocationId"]
        for region in REGIONS
    }

    run = scheduled_scan(pipeline, day0 + timedelta(days=9), lost_shards=(lost,))
    assert set(run.shards) == set(range(1, SHARDS + 1)) - {lost}
    merge = run.propose.step("Merge the shards")
    assert merge.returncode == 1 and "1 error(s)" in merge.stdout
    propose = run.propose.step("Open or update one pull request per finding")
    # propose ran, and it too says the run is incomplete (exit 1): the run shows red
    assert propose.returncode == 1 and f"shard {lost}/{SHARDS} is missing" in propose.stderr
    assert [f[:2] for f in run.failures()] == [
        ("propose", "Merge the shards"),
        ("propose", "Open or update one pull request per finding"),
    ]
    assert "pushed" in run.propose.step("Commit the state file").stdout

    clocks = committed_clocks(pipeline)
    flat = {key: when for keys in clocks.values() for key, when in keys.items()}
    for resource, (_rule, region) in seeded.items():
        key = f"{ACCOUNT}/{region}/{resource}"
        if resource == deleted:
            assert key not in flat  # its unit was scanned and no longer saw it
        else:
            assert flat[key] == day0, resource  # lost or not, the first clock stands
    for region, address in late.items():
        key = f"{ACCOUNT}/{region}/{address}"
        if _shard("eip-unassociated", region) == lost:
            assert key not in flat  # not scanned yet
        else:
            assert flat[key] == day0 + timedelta(days=9)

    for resource in seeded:
        (pull,) = [p for p in pipeline.standin.pulls.values() if p.head_ref.endswith(resource)]
        assert pull.state == ("closed" if resource == deleted else "open"), resource
