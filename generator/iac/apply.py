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

from pydantic import JsonValue

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


TerraformFor = Callable[[TerraformManaged, Finding], Terraform]
"""Terraform for the root that manages a finding's resource, with the credentials of the
finding's account (the role chain's) in its environment."""


@dataclass
class TerraformChange:
    """The executor's code change (generator.executor.runner.CodeChangeRun) for Terraform:
    ``check`` plans the merged code and refuses unless the saved plan is exactly the
    observed finding's change at the address the trusted state gives; ``apply`` applies
    that saved plan and nothing else."""

    index: IacIndex
    terraform_for: TerraformFor
    verify_code: Callable[[TerraformManaged, Finding], list[str]] | None = None
    """Checked before Terraform runs the merged code (generator.iac.merged): why the merge
    is not exactly reclaim's edit."""
    merge: str | None = None
    """The merge commit ``verify_code`` checks, journaled with the change: the rollback's
    follow-up undoes exactly that merge's edit."""
    step_id: str = "terraform-apply"
    description: str = "terraform apply of the saved, checked plan"
    _checked: tuple[Terraform, ExpectedChange] | None = None

    def check(self, observed: Finding) -> dict[str, JsonValue]:
        managed, expected = expected_change(self.index, observed)
        if self.verify_code is not None:
            problems = self.verify_code(managed, observed)
            if problems:
                raise StateRefusal(
                    f"the merge is not exactly reclaim's edit of {expected.address}: "
                    f"{'; '.join(problems)}. Terraform did not run; nothing was applied",
                    hint="reclaim applies only the edit it wrote; make other changes in their "
                    "own pull request",
                )
        terraform = self.terraform_for(managed, observed)
        terraform.init()
        problems = plan_problems(terraform.plan(), expected)
        if problems:
            raise StateRefusal(
                f"the terraform plan is not exactly the reviewed change of {expected.address} "
                f"({expected.action}): {'; '.join(problems)}. Nothing was applied",
                hint="the PR's .tf edit may change only the finding's resource; fix the code "
                "on the default branch and let the next scan propose again",
            )
        self._checked = (terraform, expected)
        return {
            "root": managed.root.name,
            "address": expected.address,
            "resource_id": expected.resource_id,
            "action": expected.action,
            "values": dict(expected.values),
            **({"merge": self.merge} if self.merge else {}),
        }

    def apply(self) -> dict[str, JsonValue]:
        if self._checked is None:
            raise StateRefusal("the terraform plan was not checked: nothing was applied")
        terraform, expected = self._checked
        self._checked = None  # a saved plan is applied once
        output = terraform.apply_saved()
        return {"address": expected.address, "output_tail": output.strip()[-1000:]}


def apply_code_change(
    finding: Finding, index: IacIndex, terraform: Terraform, backup: Callable[[], None]
) -> Applied:
    """Plan, refuse unless the plan is exactly the finding's change, back up, apply (the
    executor runs the same TerraformChange with journaled backups)."""
    change = TerraformChange(index, lambda _managed, _finding: terraform)
    change.check(finding)
    assert change._checked is not None
    expected = change._checked[1]
    backup()
    return Applied(expected.address, expected, terraform.apply_saved())


def import_block(address: str, resource_id: str) -> str:
    """An ``import`` block (Terraform 1.5+): the restored resource, back under ``address``."""
    return f"import {{\n  to = {address}\n  id = {json.dumps(resource_id)}\n}}\n"
