"""A `reclaim` process keeps its long-lived heap out of the garbage collector's way
(generator.heap); a process that runs reclaim in-process keeps its collector as it was."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator import heap
from generator.aws.session import AccountSession
from tests.conftest import make_volume
from tests.test_process_exit import run_python
from tests.test_scan_output import only_ebs_unattached, scan


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
        "atexit.register(lambda: open("
        f"{str(frozen)!r}, 'w').write(f'{{gc.get_freeze_count()}} {{gc.get_threshold()[0]}}'))\n"
        f"sys.argv = ['reclaim', 'scan', '--config', {str(config)!r}]\n"
        "from generator.cli import run\n"
        "run()\n"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    count, threshold = map(int, frozen.read_text().split())
    # the modules, models and clients: tens of thousands of objects no collection walks
    assert count > 10_000
    assert threshold == gc.get_threshold()[0]  # start-up's threshold ended with it


def test_start_up_is_collected_less_often_until_the_first_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = gc.get_threshold()
    monkeypatch.setattr(heap, "_freezing", False)
    monkeypatch.setattr(heap, "_thresholds", None)
    monkeypatch.setattr(gc, "freeze", lambda: None)
    try:
        heap.keep_settled_out_of_collections()
        assert gc.get_threshold() == (heap.START_UP_THRESHOLD, *own[1:])
        heap.settled()
        assert gc.get_threshold() == own
        gc.set_threshold(1234, *own[1:])  # later settles leave the process's own alone
        heap.settled()
        assert gc.get_threshold() == (1234, *own[1:])
    finally:
        gc.set_threshold(*own)


def test_an_in_process_caller_s_collector_thresholds_are_untouched(
    ec2: Any, tmp_path: Path
) -> None:
    make_volume(ec2)
    own = gc.get_threshold()
    result = scan(tmp_path)
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == own
