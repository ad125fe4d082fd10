"""Every exit code `reclaim --help` documents, each produced by a command a user could type.

The codes are read from the help text itself: a code documented but not walked here fails."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import main
from generator.errors import ExitCode
from generator.executor.lock import LOCK_DIR_ENV, plan_lock
from tests.conftest import make_volume


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def documented_codes() -> set[int]:
    text = run("--help").output
    block = text.split("Exit codes:", 1)[1]
    return {int(code) for code in re.findall(r"^\s+(\d+)  \S", block, re.MULTILINE)}


class Planned:
    """An unattached volume, scanned twice (first-seen clock, then 9 days later) and planned."""

    def __init__(self, ec2: Any, tmp_path: Path) -> None:
        self.ec2 = ec2
        self.volume = make_volume(ec2, tags={"Name": "old"})
        self.config = tmp_path / "reclaim.yml"
        self.config.write_text(
            "regions: [us-east-1]\n"
            "output:\n  state_file: state.json\n"
            "rules:\n  ebs-unattached: {use_cloudtrail: false}\n"
        )
        findings = tmp_path / "findings.json"
        assert run("scan", "--config", str(self.config), "--format", "json").exit_code == 0
        self.as_of = (datetime.now(UTC) + timedelta(days=9)).isoformat()
        scanned = run(
            "scan", "--config", str(self.config), "--as-of", self.as_of, "--output", str(findings)
        )
        assert scanned.exit_code == 0, scanned.output
        (finding,) = json.loads(findings.read_text())["findings"]
        out = tmp_path / "remediations"
        assert run("plan", "--findings", str(findings), "--out", str(out)).exit_code == 0
        self.folder = out / finding["id"]

    def command(self, name: str, *extra: str) -> Result:
        return run(
            name, str(self.folder), "--config", str(self.config), "--as-of", self.as_of, *extra
        )


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def code_0(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    return Planned(ec2, tmp_path).command("apply")


def code_1(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    _no_credentials(monkeypatch, tmp_path)
    return run("scan")


def code_2(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    return run("scan", "--format", "xml")


def code_3(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    (tmp_path / "reclaim.yml").write_text("regoins: [us-east-1]\n")
    return run("scan", "--config", str(tmp_path / "reclaim.yml"))


def code_4(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    planned = Planned(ec2, tmp_path)
    plan = json.loads((planned.folder / "plan.json").read_text())
    plan["finding"]["resource_id"] = "vol-0123456789abcdef0"  # someone else's volume
    (planned.folder / "plan.json").write_text(json.dumps(plan))
    return run("validate", str(planned.folder))


def code_5(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    planned = Planned(ec2, tmp_path)
    ec2.create_tags(Resources=[planned.volume], Tags=[{"Key": "reclaim:skip", "Value": "keep"}])
    return planned.command("apply")


def code_6(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    planned = Planned(ec2, tmp_path)
    real = BaseClient._make_api_call

    def outage(self: Any, operation: str, params: Any) -> Any:
        if operation == "DeleteVolume":  # after the backup snapshot: mid-run
            error = {"Error": {"Code": "InternalError", "Message": "try again"}}
            raise ClientError(error, operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", outage)
    return planned.command("apply")


def code_7(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    return Planned(ec2, tmp_path).command("rollback")  # never applied


def code_8(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    planned = Planned(ec2, tmp_path)
    assert planned.command("apply").exit_code == 0
    monkeypatch.chdir(tmp_path)  # not a git repository
    return run(
        "commit-journals", "--config", str(planned.config), "--branch", "main", "--message", "m"
    )


def code_9(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    from tests.rule_harness import REGION, executor, planned, scan

    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    vid = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100)["VolumeId"]
    ec2.attach_volume(VolumeId=vid, InstanceId=instance["InstanceId"], Device="/dev/sdf")
    folder = planned(scan("ebs-gp2-to-gp3").finding(vid), tmp_path)
    executor().apply(folder)
    from moto.ec2.models.elastic_block_store import VolumeModification

    # gp3 to gp2 again while the apply's modification is still optimizing (moto completes
    # it at once; AWS takes hours on a large volume)
    monkeypatch.setattr(VolumeModification, "modification_state", property(lambda _: "optimizing"))
    return run("rollback", str(folder))


def code_10(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    planned = Planned(ec2, tmp_path)
    _no_credentials(monkeypatch, tmp_path)
    return planned.command("apply")


def code_11(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setitem(sys.modules, "moto", None)
    return run("demo", "--dir", str(tmp_path / "demo"))


def code_12(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    planned = Planned(ec2, tmp_path)
    with plan_lock(planned.folder, wait_seconds=0):
        return planned.command("apply", "--wait", "0")


WALK: dict[int, Callable[[Any, Path, pytest.MonkeyPatch], Result]] = {
    int(name.removeprefix("code_")): value
    for name, value in dict(globals()).items()
    if name.startswith("code_")
}


def test_every_documented_exit_code_is_walked() -> None:
    assert documented_codes() == set(WALK) == {int(code) for code in ExitCode}


@pytest.mark.parametrize("code", sorted(WALK))
def test_the_command_exits_with_the_documented_code(
    code: int, ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = WALK[code](ec2, tmp_path, monkeypatch)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if code not in (0, 2):
        assert "error" in result.output.lower()
