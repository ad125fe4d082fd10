"""A step's "already done?" lookup reads every page of a paginated answer: a resumed apply
whose export task is the 51st the account lists must find it, not start a second export."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from generator.executor.calls import invoke_all


def _task(n: int) -> dict[str, object]:
    return {"taskId": f"task-{n}", "taskName": f"other-{n}", "status": {"code": "COMPLETED"}}


def test_a_lookup_sees_the_second_page_of_export_tasks() -> None:
    logs = boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    ours = {"taskId": "task-ours", "taskName": "reclaim-plan", "status": {"code": "RUNNING"}}
    with Stubber(logs) as stub:
        stub.add_response(
            "describe_export_tasks",
            {"exportTasks": [_task(n) for n in range(50)], "nextToken": "page-2"},
            {},
        )
        stub.add_response("describe_export_tasks", {"exportTasks": [ours]}, {"nextToken": "page-2"})
        answer = invoke_all(logs, "DescribeExportTasks", {})
        stub.assert_no_pending_responses()
    assert len(answer["exportTasks"]) == 51
    assert answer["exportTasks"][-1]["taskId"] == "task-ours"


def test_an_operation_botocore_does_not_paginate_is_one_call() -> None:
    logs = boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(logs) as stub:
        stub.add_response(
            "get_data_protection_policy", {"logGroupIdentifier": "g"}, {"logGroupIdentifier": "g"}
        )
        answer = invoke_all(logs, "GetDataProtectionPolicy", {"logGroupIdentifier": "g"})
        stub.assert_no_pending_responses()
    assert answer == {"logGroupIdentifier": "g"}
