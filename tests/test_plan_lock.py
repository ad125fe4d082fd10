"""One apply or rollback of a plan at a time, and no AWS call before validation.

Two `reclaim apply` processes on one folder once took two snapshots (5 of 10 trials) and
called DeleteVolume twice (2 of 10). Here they run as real processes against one moto
server; a killed holder's lock is free again; a tampered manifest with a role chain
configured costs no AssumeRole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.errors import ExitCode, PlanBusy
from generator.executor.lock import LOCK_DIR_ENV, plan_lock
from generator.planner import plan_finding, write_remediation
from generator.scan import scan
from tests.conftest import config_for, later, make_volume

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 4


def test_a_second_holder_waits_then_is_refused_and_never_overlaps(tmp_path, monkeypatch):
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    folder = tmp_path / "ebs-unattached-123456789012-us-east-1-vol-1"
    folder.mkdir()
    inside: list[str] = []
    overlaps: list[str] = []
    refused: list[str] = []

    def hold(name: str) -> None:
        try:
            with plan_lock(folder, wait_seconds=0.3):
                if inside:
                    overlaps.append(name)
                inside.append(name)
                time.sleep(0.6)
                inside.remove(name)
        except PlanBusy as error:
            refused.append(error.message)

    threads = [threading.Thread(target=hold, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert overlaps == []
    assert len(refused) == 2
    assert all("another apply or rollback of this plan is running (pid" in m for m in refused)


def test_a_lock_left_by_a_killed_process_is_free_again(tmp_path):
    folder = tmp_path / "plan-a"
    folder.mkdir()
    env = {**os.environ, LOCK_DIR_ENV: str(tmp_path / "locks"), "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from generator.executor.lock import plan_lock\n"
            f"with plan_lock(Path({str(folder)!r})):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        os.environ[LOCK_DIR_ENV] = env[LOCK_DIR_ENV]
        with pytest.raises(PlanBusy, match=f"pid {holder.pid}"), plan_lock(folder, wait_seconds=0):
            pass
        holder.kill()
        holder.wait(10)
        with plan_lock(folder, wait_seconds=5):
            pass  # the kernel released the dead holder's lock
    finally:
        os.environ.pop(LOCK_DIR_ENV, None)
        holder.kill()
        holder.wait(10)


def _config_file(tmp_path: Path) -> Path:
    from generator.rules import RULES

    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    path = tmp_path / "reclaim.yml"
    path.write_text(yaml.safe_dump({"regions": ["us-east-1"], "rules": rules}))
    return path


@pytest.mark.usefixtures("moto_server")
def test_two_apply_processes_on_one_plan_never_both_mutate(moto_server, tmp_path):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_server)
    config_path = _config_file(tmp_path)
    config = config_for(tmp_path)
    volumes = [make_volume(ec2, Size=8) for _ in range(TRIALS)]
    scan(config, as_of=later(0))
    as_of = later(30)
    report = scan(config, as_of=as_of)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": moto_server,
        LOCK_DIR_ENV: str(tmp_path / "locks"),
    }
    for volume in volumes:
        finding = next(f for f in report.findings if f.resource_id == volume)
        folder = write_remediation(plan_finding(finding), tmp_path / "remediations")
        command = [
            sys.executable,
            "-m",
            "generator",
            "apply",
            str(folder),
            "--config",
            str(config_path),
            "--as-of",
            as_of.isoformat(),
            "--wait",
            "0",
        ]
        runs = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for _ in range(2)
        ]
        outputs = [(run.wait(120), run.stdout.read() if run.stdout else "") for run in runs]

        codes = sorted(code for code, _ in outputs)
        assert set(codes) <= {0, int(ExitCode.BUSY)}, outputs
        snapshots = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume]}])
        assert len(snapshots["Snapshots"]) == 1, outputs
        assert not ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])[
            "Volumes"
        ]
        journal = json.loads((folder / "journal.json").read_text())
        assert journal["apply"]["status"] == "completed" and journal["apply"]["attempts"] == 1
        mutated = [text for _, text in outputs if "delete" in text and "done" in text]
        assert len(mutated) == 1, outputs  # the other was refused busy or found it applied
        busy = [text for code, text in outputs if code == ExitCode.BUSY]
        assert all("another apply or rollback of this plan is running" in t for t in busy)


def test_a_tampered_plan_with_a_role_chain_makes_no_aws_call(tmp_path, monkeypatch):
    """Validation comes before the first AssumeRole: hop 1, hop 2, STS, EC2 are never asked."""
    import botocore.endpoint

    calls: list[str] = []

    def refuse(self: Any, operation_model: Any, request_dict: Any) -> Any:
        calls.append(operation_model.name)
        raise AssertionError(f"AWS was called: {operation_model.name}")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", refuse)
    from tests.factories import volume_finding

    folder = write_remediation(plan_finding(volume_finding()), tmp_path / "remediations")
    plan = json.loads((folder / "plan.json").read_text())
    plan["steps"][1]["call"]["params"]["VolumeId"] = "vol-0ffffffffffffffff"
    (folder / "plan.json").write_text(json.dumps(plan))
    config = tmp_path / "reclaim.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "service_role": {"role_arn": "arn:aws:iam::111111111111:role/reclaim-service"},
                "accounts": [
                    {
                        "name": "prod",
                        "role_arn": "arn:aws:iam::123456789012:role/reclaim-remediation",
                    }
                ],
            }
        )
    )
    for command in ("apply", "rollback"):
        result = CliRunner().invoke(main, [command, str(folder), "--config", str(config)])
        assert result.exit_code == ExitCode.MANIFEST, result.output
        assert "differs from what rule" in result.output
    assert calls == []
