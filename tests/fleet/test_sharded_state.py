"""Sharded scans keep one first-seen clock: each shard's report carries its units' clocks and
`merge-state` folds them into the committed state, which then equals what one whole scan
would have written, run after run, with a failing region and resources coming and going."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from generator.aws.chain import RoleChain, RunIdentity
from generator.aws.session import AccountSession
from generator.config import AccountConfig, ReclaimConfig
from generator.findings import FindingsReport, ShardInfo
from generator.merge import merge_reports
from generator.report_stream import StreamingReportWriter
from generator.rules import RULES
from generator.scan import scan_into
from generator.state import SeenState, load_clocks
from generator.state_merge import merge_state_file
from tests.fleet.support import (
    CUSTOMER_A,
    CUSTOMER_B,
    REGION,
    SERVICE_ROLE,
    fleet_config,
    session_in,
    unattached_volumes,
)
from tests.fleet.test_fleet_scan import ROLE_A, ROLE_B, _RegionDisabled

SHARDS = 3
T0 = datetime.now(UTC)


def _config(root: Path) -> ReclaimConfig:
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    rules["eip-unassociated"] = {}
    return fleet_config(
        root,
        service_role={"role_arn": SERVICE_ROLE},
        regions=[REGION, "eu-west-1"],
        accounts=[{"name": "a", "role_arn": ROLE_A}, {"name": "b", "role_arn": ROLE_B}],
        rules=rules,
    )


def _scan(
    config: ReclaimConfig, state: Path, output: Path, as_of: datetime, shard: ShardInfo | None
) -> None:
    chain = RoleChain(config, RunIdentity(kind="scan", run="test"))

    def sessions(account: AccountConfig) -> AccountSession:
        session = chain.session_for(account)
        # the same failure in the whole scan and in whichever shard owns the unit
        return _RegionDisabled(session, "eu-west-1") if account.name == "b" else session

    with output.open("w") as stream, StreamingReportWriter(stream, as_of, shard) as writer:
        scan_into(
            config,
            writer,
            as_of=as_of,
            session_for=sessions,
            state=SeenState(state),
            shard=shard,
        )


def _addresses(account: str, region: str, count: int) -> list[str]:
    ec2 = session_in(account, region).client("ec2")
    return [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(count)]


def test_sharded_scans_and_merge_state_keep_the_clocks_a_whole_scan_keeps(aws, tmp_path: Path):
    whole_dir, sharded_dir = tmp_path / "whole", tmp_path / "sharded"
    whole_dir.mkdir()
    whole, sharded = _config(whole_dir), _config(sharded_dir)
    volumes = unattached_volumes(CUSTOMER_A, REGION, 2) + unattached_volumes(CUSTOMER_B, REGION, 1)
    unattached_volumes(CUSTOMER_B, "eu-west-1", 1)  # in the region that fails
    addresses = _addresses(CUSTOMER_A, "eu-west-1", 2) + _addresses(CUSTOMER_B, REGION, 1)

    for run, days in enumerate((0, 3, 10)):
        as_of = T0 + timedelta(days=days)
        if run == 1:  # between scans: one volume is deleted, one address is released
            session_in(CUSTOMER_A, REGION).client("ec2").delete_volume(VolumeId=volumes[0])
            session_in(CUSTOMER_A, "eu-west-1").client("ec2").release_address(
                AllocationId=addresses[0]
            )
        if run == 2:  # a new one appears late: its clock starts now, too young for a PR
            unattached_volumes(CUSTOMER_A, REGION, 1)

        _scan(whole, whole.state_path, whole_dir / f"whole-{run}.json", as_of, None)
        shard_files = []
        for index in range(1, SHARDS + 1):
            # each shard job checks out the committed state and keeps its own copy
            copy = sharded_dir / f"runner-{run}-{index}/state.json"
            copy.parent.mkdir(parents=True)
            if sharded.state_path.exists():
                shutil.copy(sharded.state_path, copy)
            output = sharded_dir / f"findings-{run}-{index}.json"
            _scan(sharded, copy, output, as_of, ShardInfo(index=index, count=SHARDS))
            shard_files.append(output)
        merge_state_file(sharded.state_path, list(reversed(shard_files)))

        assert load_clocks(sharded.state_path) == load_clocks(whole.state_path), run
        merged = sharded_dir / f"findings-{run}.json"
        merge_reports(shard_files, merged)
        alone = FindingsReport.model_validate_json((whole_dir / f"whole-{run}.json").read_text())
        report = FindingsReport.model_validate_json(merged.read_text())
        assert report.first_seen == alone.first_seen
        assert sorted(f.id for f in report.findings) == sorted(f.id for f in alone.findings)

    clocks = load_clocks(sharded.state_path)
    volume_clocks, address_clocks = clocks["ebs-unattached"], clocks["eip-unassociated"]
    # the deleted and the released are forgotten; the rest kept their first sighting
    assert f"{CUSTOMER_A}/{REGION}/{volumes[0]}" not in volume_clocks
    assert f"{CUSTOMER_A}/eu-west-1/{addresses[0]}" not in address_clocks
    assert address_clocks[f"{CUSTOMER_A}/eu-west-1/{addresses[1]}"] == T0
    assert volume_clocks[f"{CUSTOMER_A}/{REGION}/{volumes[1]}"] == T0
    assert len(volume_clocks) == 3 and len(address_clocks) == 2
    # and at day 10 the addresses seen since day 0 are findings, the late volume is not
    final = json.loads((sharded_dir / "findings-2.json").read_text())
    found = {f["resource_id"] for f in final["findings"]}
    assert {addresses[1], addresses[2], volumes[1], volumes[2]} <= found
    assert len(found) == 4
