"""`scan --shard I/N` and `merge-findings`: disjoint shards that cover every unit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.aws.units import Unit, owns, parse_shard, shard_of
from generator.cli import main
from generator.errors import UsageError
from generator.findings import FindingsReport, ShardInfo
from tests.fleet.support import (
    CUSTOMER_A,
    CUSTOMER_B,
    REGION,
    SERVICE_ROLE,
    only_ebs_unattached,
    unattached_volumes,
)

units_strategy = st.sets(
    st.builds(
        Unit,
        account=st.text(min_size=1, max_size=12),
        region=st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"]),
        rule=st.sampled_from(["ebs-unattached", "ec2-idle", "eip-unassociated"]),
    ),
    max_size=200,
)


@given(units=units_strategy, count=st.integers(min_value=1, max_value=64))
@settings(max_examples=200, deadline=None)
def test_shards_are_disjoint_and_cover_every_unit_for_any_n(units: set[Unit], count: int):
    owners = {
        unit: [i for i in range(1, count + 1) if owns(ShardInfo(index=i, count=count), unit)]
        for unit in units
    }
    assert all(len(shards) == 1 for shards in owners.values())  # exactly one owner each
    assert all(shard_of(unit, count) == owners[unit][0] for unit in units)


def test_shard_jobs_on_other_machines_agree_on_the_split():
    """Each matrix job is its own process: ownership must not depend on hash() salting."""
    units = [Unit(f"acct{a}", "us-east-1", "ebs-unattached") for a in range(50)]
    here = [shard_of(u, 7) for u in units]
    code = (
        "from generator.aws.units import Unit, shard_of;"
        "print([shard_of(Unit(f'acct{a}', 'us-east-1', 'ebs-unattached'), 7) for a in range(50)])"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        output = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert output.strip() == str(here)


def test_shards_spread_a_fleet_roughly_evenly():
    units = [Unit(f"acct{a}", r, "ebs-unattached") for a in range(100) for r in ("a", "b")]
    sizes = [sum(1 for u in units if shard_of(u, 4) == i) for i in range(1, 5)]
    assert sum(sizes) == 200 and min(sizes) >= 35  # 50 each on average


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "2", "-1/3"])
def test_a_malformed_shard_is_a_clear_error(text: str):
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    assert "I/N" in caught.value.message
    assert caught.value.exit_code == 2  # a command-line mistake, as --help says


def _write_config(tmp_path: Path) -> Path:
    path = tmp_path / "reclaim.yml"
    path.write_text(
        json.dumps(
            {
                "service_role": {"role_arn": SERVICE_ROLE},
                "regions": [REGION, "eu-west-1"],
                "accounts": [
                    {"name": "a", "role_arn": f"arn:aws:iam::{CUSTOMER_A}:role/r"},
                    {"name": "b", "role_arn": f"arn:aws:iam::{CUSTOMER_B}:role/r"},
                ],
                "rules": only_ebs_unattached(),
            }
        )
    )
    return path


def _scan(runner: CliRunner, config: Path, *args: str) -> object:
    return runner.invoke(main, ["scan", "--config", str(config), *args], catch_exceptions=False)


def test_sharded_scans_merge_into_exactly_the_whole_scan(aws, tmp_path: Path):
    for region in (REGION, "eu-west-1"):
        unattached_volumes(CUSTOMER_A, region, 2)
        unattached_volumes(CUSTOMER_B, region, 1)
    config = _write_config(tmp_path)
    runner = CliRunner()
    start = datetime.now(UTC)
    as_of = (start + timedelta(days=30)).isoformat()
    assert _scan(runner, config, "--as-of", start.isoformat()).exit_code == 0

    whole = tmp_path / "whole.json"
    assert _scan(runner, config, "--as-of", as_of, "--output", str(whole)).exit_code == 0
    shards = []
    for index in (1, 2, 3):
        path = tmp_path / f"shard-{index}.json"
        result = _scan(
            runner, config, "--as-of", as_of, "--shard", f"{index}/3", "--output", str(path)
        )
        assert result.exit_code == 0, result.output
        shards.append(path)
    merged = tmp_path / "merged.json"
    result = runner.invoke(main, ["merge-findings", *map(str, shards), "--output", str(merged)])
    assert result.exit_code == 0, result.output

    whole_report = FindingsReport.model_validate_json(whole.read_text())
    merged_report = FindingsReport.model_validate_json(merged.read_text())
    parts = [FindingsReport.model_validate_json(p.read_text()) for p in shards]
    assert len(whole_report.findings) == 6
    assert {f.id for f in merged_report.findings} == {f.id for f in whole_report.findings}
    assert sum(len(p.findings) for p in parts) == 6  # disjoint
    assert [str(p.shard) for p in parts] == ["1/3", "2/3", "3/3"]
    assert merged_report.shard is None and merged_report.errors == ()
    # Units each shard completed add up to the whole scan's: propose closes stale PRs only
    # inside completed units, so the merged file must carry them all.
    assert merged_report.completed == whole_report.completed
    assert len(whole_report.completed) == 4
    # and the first-seen clocks, which merge-state folds into the committed state file
    assert (
        whole_report.first_seen is not None and len(whole_report.first_seen["ebs-unattached"]) == 6
    )
    assert merged_report.first_seen == whole_report.first_seen
    assert [len((p.first_seen or {}).get("ebs-unattached", {})) for p in parts] == [
        len(p.findings) for p in parts
    ]


def _report(tmp_path: Path, name: str, shard: ShardInfo | None, findings=()) -> Path:
    path = tmp_path / name
    report = FindingsReport(as_of=datetime.now(UTC), shard=shard, findings=findings)
    path.write_text(report.model_dump_json())
    return path


def test_a_missing_shard_is_an_error_in_the_merged_file_and_the_exit_code(tmp_path: Path):
    one = _report(tmp_path, "s1.json", ShardInfo(index=1, count=3))
    three = _report(tmp_path, "s3.json", ShardInfo(index=3, count=3))
    merged = tmp_path / "merged.json"
    result = CliRunner().invoke(
        main, ["merge-findings", str(one), str(three), "--output", str(merged)]
    )
    assert result.exit_code == 1
    (error,) = FindingsReport.model_validate_json(merged.read_text()).errors
    assert error.message == "shard 2/3 is missing: its units were not scanned"


def test_merged_clocks_are_absent_when_one_shard_carries_none(tmp_path: Path):
    """A partial set of clocks would read as forgotten clocks to merge-state."""
    seen = {"ebs-unattached": {f"{CUSTOMER_A}/{REGION}/vol-1": datetime(2026, 1, 1, tzinfo=UTC)}}
    one = tmp_path / "s1.json"
    one.write_text(
        FindingsReport(
            as_of=datetime.now(UTC), shard=ShardInfo(index=1, count=2), findings=(), first_seen=seen
        ).model_dump_json()
    )
    two = _report(tmp_path, "s2.json", ShardInfo(index=2, count=2))
    for inputs, expected in (([one], seen), ([one, two], None)):
        merged = tmp_path / "merged.json"
        # one input alone: shard 2 is missing (exit 1), its clocks still pass through
        CliRunner().invoke(main, ["merge-findings", *map(str, inputs), "--output", str(merged)])
        assert FindingsReport.model_validate_json(merged.read_text()).first_seen == expected


@pytest.mark.parametrize(
    ("shards", "expected"),
    [
        ([ShardInfo(index=1, count=2), ShardInfo(index=1, count=2)], "are both shard 1/2"),
        ([ShardInfo(index=1, count=2), ShardInfo(index=2, count=3)], "differently split"),
        ([ShardInfo(index=1, count=2), None], "cannot merge whole scans"),
    ],
)
def test_inputs_that_are_not_one_scans_shards_are_refused(tmp_path, shards, expected):
    paths = [str(_report(tmp_path, f"r{i}.json", s)) for i, s in enumerate(shards)]
    merged = tmp_path / "merged.json"
    result = CliRunner().invoke(main, ["merge-findings", *paths, "--output", str(merged)])
    assert result.exit_code == 4
    assert expected in result.output
    assert not merged.exists()


def test_a_finding_in_two_inputs_is_refused(aws, tmp_path: Path):
    unattached_volumes(CUSTOMER_A, REGION, 1)
    config = _write_config(tmp_path)
    runner = CliRunner()
    start = datetime.now(UTC)
    _scan(runner, config, "--as-of", start.isoformat())
    out = tmp_path / "whole.json"
    later = (start + timedelta(days=30)).isoformat()
    _scan(runner, config, "--as-of", later, "--output", str(out))
    merged = tmp_path / "merged.json"
    result = runner.invoke(main, ["merge-findings", str(out), str(out), "--output", str(merged)])
    assert result.exit_code == 4
    assert "is in both" in result.output and not merged.exists()


def test_a_global_rule_is_one_unit_per_account_in_its_home_region():
    from generator.aws.fleet import account_units
    from generator.rules import RULES

    global_rules = [name for name, rule in RULES.items() if rule.home_region]
    regional = [name for name, rule in RULES.items() if not rule.home_region]
    assert global_rules and regional  # e.g. cloudfront-price-class
    homes = {name: RULES[name].home_region for name in [*global_rules, *regional]}
    units = account_units("prod", ["eu-west-1", "ap-south-1"], homes)
    for name in global_rules:
        assert [u.region for u in units if u.rule == name] == [RULES[name].home_region]
    for name in regional:
        assert sorted(u.region for u in units if u.rule == name) == ["ap-south-1", "eu-west-1"]


def test_a_warning_every_shard_gives_is_merged_into_one(tmp_path: Path):
    """Every shard reads the same proposals file: a bad one is one warning, not N."""
    from generator.findings import ScanError

    warning = ScanError(account="*", region="*", rule="*", message="proposals.json: bad")
    paths = []
    for index in (1, 2):
        path = tmp_path / f"s{index}.json"
        report = FindingsReport(
            as_of=datetime(2026, 3, 1, tzinfo=UTC),
            shard=ShardInfo(index=index, count=2),
            findings=(),
            warnings=(warning,),
        )
        path.write_text(report.model_dump_json())
        paths.append(str(path))
    merged = tmp_path / "merged.json"
    result = CliRunner().invoke(main, ["merge-findings", *paths, "--output", str(merged)])
    assert result.exit_code == 0, result.output
    assert FindingsReport.model_validate_json(merged.read_text()).warnings == (warning,)
