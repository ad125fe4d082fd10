"""A managed finding's code change: what its pull request carries instead of an API plan.

Deleting a Terraform-managed volume through the API is a trap (the next ``terraform apply``
recreates it, or fails); changing a stack's resource makes the stack drift. So a managed
finding gets the edit of the code that declares it (its block removed, its ``for_each``
element removed, or the rule's attribute set in place), or, when that edit cannot be made
safely by reclaim, a ``needs-human`` report saying what to change and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.findings import Finding
from generator.iac import hcl
from generator.iac.edit import CannotEdit, remove_instance, set_attributes
from generator.iac.locate import NotLocated, find_block
from generator.iac.managed import Managed, StackManaged, TerraformManaged

Action = Literal["delete", "update"]
Values = dict[str, str | int]

GP3_INCLUDED_IOPS = 3000
GP3_INCLUDED_THROUGHPUT = 125


@dataclass(frozen=True)
class RuleChange:
    """What a rule's change is in Terraform: the resource deleted, or attributes set."""

    action: Action
    values: Callable[[Finding], Values] = lambda finding: {}
    was: Callable[[Finding], dict[str, str]] = lambda finding: {}
    restored: tuple[str, str] | None = None
    """For a delete: the rule's rollback step and its output naming the resource it
    restores (a new ID), imported back under the Terraform address by the follow-up."""


def _gp3(finding: Finding) -> Values:
    values: Values = {"type": "gp3"}
    iops, throughput = (
        finding.resource.get("target_iops"),
        finding.resource.get("target_throughput_mibps"),
    )
    if isinstance(iops, int) and iops > GP3_INCLUDED_IOPS:
        values["iops"] = iops
    if isinstance(throughput, int) and throughput > GP3_INCLUDED_THROUGHPUT:
        values["throughput"] = throughput
    return values


CODE_CHANGES: dict[str, RuleChange] = {
    "ebs-unattached": RuleChange("delete", restored=("restore", "VolumeId")),
    "eip-unassociated": RuleChange("delete", restored=("allocate", "AllocationId")),
    "ebs-gp2-to-gp3": RuleChange("update", _gp3, lambda finding: {"type": "gp2"}),
}
"""The rules whose change reclaim can write as code; any other managed finding is reported
needs-human."""


class CodeChange(BaseModel):
    """What a managed finding's folder records (iac.json) for the reviewer; apply derives
    it again from AWS and the default branch and never believes this copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    finding: Finding
    managed_by: Literal["terraform", "cloudformation"]
    root: str | None = None
    address: str | None = None
    stack: str | None = None
    file: str | None = Field(default=None, description="The declaring .tf file.")
    lines: tuple[int, int] | None = None
    action: Action | None = None
    attributes: dict[str, str | int] = Field(default_factory=dict)
    needs_human: str | None = Field(
        default=None, description="Why reclaim did not write the change, and what to change."
    )
    edits: dict[str, str] = Field(default_factory=dict, exclude=True)
    """Repository-relative path → the file's new text (not part of iac.json)."""

    @property
    def where(self) -> str:
        if self.file and self.lines:
            return f"{self.file}:{self.lines[0]}-{self.lines[1]}"
        return self.file or "?"


def _shown(path: Path, repo_root: Path) -> tuple[str, bool]:
    """The path as the PR shows it, and whether it is inside the ops repository."""
    try:
        return path.resolve().relative_to(repo_root.resolve()).as_posix(), True
    except ValueError:
        return path.as_posix(), False


def code_change(finding: Finding, managed: Managed, repo_root: Path) -> CodeChange:
    """The code change for ``finding``, managed as ``managed``; edits only in repo_root."""
    if isinstance(managed, StackManaged):
        return CodeChange(
            finding=finding,
            managed_by="cloudformation",
            stack=managed.stack,
            needs_human=f"{finding.resource_id} belongs to CloudFormation stack "
            f"{managed.stack!r}: change it in the stack's template and update the stack; "
            "changing the resource directly would make the stack drift",
        )
    return _terraform_change(finding, managed, repo_root)


def _terraform_change(finding: Finding, managed: TerraformManaged, repo_root: Path) -> CodeChange:
    rule = CODE_CHANGES.get(finding.rule)
    location = managed.location
    base = {
        "finding": finding,
        "managed_by": "terraform",
        "root": managed.root.name,
        "address": managed.address,
        "action": rule.action if rule else None,
        "attributes": rule.values(finding) if rule else {},
    }
    if location is not None:
        shown, inside = _shown(location.file, repo_root)
        base.update(file=shown, lines=(location.start_line, location.end_line))
    else:
        inside = False

    def refused(reason: str) -> CodeChange:
        return CodeChange.model_validate({**base, "needs_human": reason})

    if location is None:
        return refused(
            f"{managed.address} is in the state of root {managed.root.name!r} but "
            f"its declaration was not found: {managed.not_located}"
        )
    if managed.stale:
        return refused(managed.stale)
    if managed.also:
        return refused(
            f"{finding.resource_id} is in more than one state ({managed.address}; "
            f"{'; '.join(managed.also)}): decide which code owns it"
        )
    if rule is None:
        return refused(
            f"reclaim does not write rule {finding.rule}'s change as Terraform: "
            f"make it in {managed.address} ({base['file']})"
        )
    if location.module_instance:
        return refused(
            f"{managed.address} is inside a module called with count or for_each: "
            "change the module call's arguments"
        )
    if managed.root.repository or not inside:
        where = managed.root.repository or "a repository outside this one"
        return refused(f"the code is in {where}: {_describe(rule, finding, managed)} there")
    try:
        parsed, block = find_block(location.file.parent, "resource", location.block)
        if rule.action == "delete":
            text = remove_instance(parsed, block, managed.instance.index)
        else:
            text = set_attributes(parsed, block, rule.values(finding), rule.was(finding))
    except (CannotEdit, NotLocated, hcl.Unreadable) as why:
        return refused(str(why))
    assert isinstance(base["file"], str)
    return CodeChange.model_validate({**base, "edits": {base["file"]: text}})


def _describe(rule: RuleChange, finding: Finding, managed: TerraformManaged) -> str:
    if rule.action == "delete":
        return f"remove {managed.address}"
    settings = ", ".join(f"{k} = {v!r}" for k, v in rule.values(finding).items())
    return f"set {settings} in {managed.address}"
