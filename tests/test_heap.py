"""A `reclaim` process keeps its long-lived heap out of the garbage collector's way
(generator.heap); a process that runs reclaim in-process keeps its collector as it was."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator import heap
from generator.aws.session import AccountSession
from tests.conftest import make_volume
from tests.test_scan_output import only_ebs_unattached, scan

ROOT = Path(__file__).resolve().parents[1]


def test_a_new_client_freezes_the_heap_and_a_client_asked_again_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freezes: list[None] = []
    monkeypatch.setattr(heap, "_freezing", True)
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(None))
    session = AccountSession(
        lambda: boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    )
    session.client("ec2", "us-east-1")
    assert len(freezes) == 1
    session.client("ec2", "us-east-1")
    assert len(freezes) == 1
    session.client("ec2", "eu-west-1")
    assert len(freezes) == 2


def test_an_in_process_scan_freezes_nothing(ec2: Any, tmp_path: Path) -> None:
    make_volume(ec2)
    before = gc.get_freeze_count()
    result = scan(tmp_path)
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before


@pytest.mark.usefixtures("moto_server")
def test_a_reclaim_scan_process_keeps_its_settled_heap_out_of_collections(
    moto_server: str, tmp_path: Path
) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_server)
    make_volume(ec2)
    config = tmp_path / "reclaim.yml"
    config.write_text("regions: [us-east-1]\n" + only_ebs_unattached())
    frozen = tmp_path / "frozen"
    code = (
        "import atexit, gc, sys\n"
        f"atexit.register(lambda: open({str(frozen)!r}, 'w').write(str(gc.get_freeze_count())))\n"
        f"sys.argv = ['reclaim', 'scan', '--config', {str(config)!r}]\n"
        "from generator.cli import run\n"
        "run()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    # the modules, models and clients: tens of thousands of objects no collection walks
    assert int(frozen.read_text()) > 10_000
