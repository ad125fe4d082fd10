"""Applying a merged code change: plan, check, back up, apply the saved plan; and the
follow-up a rollback opens: an ``import`` block bringing the restored resource back under
the same address.

Nothing here believes the pull request: ``finding`` is the resource as re-observed in AWS,
``index`` is read from the default branch's reclaim.yml and Terraform state, and the plan
check compares what Terraform would do with what that finding's rule changes. The check
runs before the backup, so a refused PR changes nothing at all (not even a snapshot); the
backup completes before the saved plan is applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from generator.errors import StateRefusal
from generator.findings import Finding
from generator.iac.change import CODE_CHANGES
from generator.iac.managed import IacIndex, TerraformManaged
from generator.iac.plan_check import ExpectedChange, plan_problems
from generator.iac.proposal import managed_by
from generator.iac.terraform import Terraform

IMPORT_FILE = "reclaim_imports.tf"


@dataclass(frozen=True)
class Applied:
    address: str
    expected: ExpectedChange
    output: str


def expected_change(index: IacIndex, finding: Finding) -> tuple[TerraformManaged, ExpectedChange]:
    """What the saved plan must do for ``finding``, from trusted state; refuses a finding
    that is not a Terraform-managed resource reclaim can change as code."""
    managed = managed_by(index, finding)
    rule = CODE_CHANGES.get(finding.rule)
    if not isinstance(managed, TerraformManaged) or rule is None or managed.also:
        raise StateRefusal(
            f"{finding.resource_id} is not one Terraform address of the configured roots, "
            f"with a change reclaim writes as code: nothing was applied",
            hint="the default branch's reclaim.yml (iac:) and state decide this, not the PR",
        )
    expected = ExpectedChange(
        address=managed.address,
        resource_id=finding.resource_id,
        action=rule.action,
        values=rule.values(finding) if rule.action == "update" else {},
    )
    return managed, expected


def apply_code_change(
    finding: Finding, index: IacIndex, terraform: Terraform, backup: Callable[[], None]
) -> Applied:
    """Plan, refuse unless the plan is exactly the finding's change, back up, apply."""
    _, expected = expected_change(index, finding)
    terraform.init()
    problems = plan_problems(terraform.plan(), expected)
    if problems:
        raise StateRefusal(
            f"the terraform plan is not exactly the reviewed change of {expected.address} "
            f"({expected.action}): {'; '.join(problems)}. Nothing was applied",
            hint="the PR's .tf edit may change only the finding's resource; fix the code "
            "on the default branch and let the next scan propose again",
        )
    backup()
    return Applied(expected.address, expected, terraform.apply_saved())


def import_block(address: str, resource_id: str) -> str:
    """An ``import`` block (Terraform 1.5+): the restored resource, back under ``address``."""
    return f"import {{\n  to = {address}\n  id = {json.dumps(resource_id)}\n}}\n"
