"""The vocabulary plans are written in: one constructor per kind of step, one per common check.

A rule composes its plan and rollback from these instead of spelling out ``Step(...)`` and
``Expectation(...)`` literals, so the shapes that make a step safe are written once: a
pre-check never mutates, a dry run always expects ``DryRunOperation`` from the very call the
change makes, a change always says how to tell it already happened, the skip tag is checked
the same way everywhere. Composing steps composes their calls: `calls_of` gives every call
a composed manifest makes, and the rule's declared allow-list must equal it (the catalog
conformance test).

Neutral: imports only the manifest models, the tag helpers and botocore's waiter models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from generator.aws.tags import AWS_RESERVED_TAG_PREFIX, restorable_tags, tag_list
from generator.manifest.models import (
    AwsCall,
    Expectation,
    Lookup,
    NotBefore,
    RetryOnConflict,
    Step,
    WaitFor,
)
from generator.manifest.paths import json_literal
from generator.manifest.waiters import waiter_operation

DRY_RUN_OK = "DryRunOperation"

# ---- checks ------------------------------------------------------------------------------


def skip_tag_absent(skip_tag: str, *, tags_at: str) -> Expectation:
    """The skip tag is not among the ``[{"Key": .., "Value": ..}]`` tags at ``tags_at``."""
    return Expectation(
        path=f"length({tags_at}[?Key == {json_literal(skip_tag)}] || `[]`)",
        equals=0,
        what=f"skip tag {skip_tag!r} absent",
    )


def skip_tag_key_absent(skip_tag: str, *, keys_at: str) -> Expectation:
    """The skip tag is not among the tag keys ``keys_at`` evaluates to (for APIs that
    answer tags as a map or as a list of keys)."""
    return Expectation(
        path=f"contains({keys_at}, {json_literal(skip_tag)})",
        equals=False,
        what=f"skip tag {skip_tag!r} absent",
    )


def tags_unchanged(tags_at: str, recorded: Mapping[str, str]) -> Expectation:
    """The tags at ``tags_at`` are the recorded ones, less those AWS sets itself (which
    nobody can restore, and AWS may add or drop)."""
    return Expectation(
        path=(f"sort_by({tags_at}[?!starts_with(Key, '{AWS_RESERVED_TAG_PREFIX}')] || `[]`, &Key)"),
        equals=tag_list(restorable_tags(recorded)),
        what="tags",
    )


# ---- steps, by phase ---------------------------------------------------------------------


def precheck(
    step_id: str,
    description: str,
    call: AwsCall,
    *expect: Expectation,
    expect_error: str | None = None,
    outputs: dict[str, str] | None = None,
    failure_hint: str | None = None,
) -> Step:
    """Read, and expect: the resource is still what the reviewer approved."""
    return Step(
        id=step_id,
        phase="precheck",
        description=description,
        call=call,
        mutates=False,
        expect=expect,
        expect_error=expect_error,
        outputs=outputs or {},
        failure_hint=failure_hint,
    )


def skip_tag_precheck(subject: str, skip_tag: str, call: AwsCall, *, keys_at: str) -> Step:
    """For resources whose tags are read with their own call: a pre-check of that call."""
    return precheck(
        "precheck-tags",
        f"Confirm {subject} does not carry the skip tag {skip_tag!r}.",
        call,
        skip_tag_key_absent(skip_tag, keys_at=keys_at),
    )


def record(step_id: str, description: str, call: AwsCall, outputs: dict[str, str]) -> Step:
    """The backup of a change that deletes nothing: the attributes it changes, read into the
    journal, where the rollback takes them from."""
    return Step(
        id=step_id,
        phase="backup",
        description=description,
        call=call,
        mutates=False,
        outputs=outputs,
    )


def backup(
    step_id: str,
    description: str,
    call: AwsCall,
    *,
    outputs: dict[str, str],
    already_done: Lookup,
    wait: WaitFor,
    not_before: NotBefore | None = None,
    failure_hint: str | None = None,
) -> Step:
    """Make a copy, find one this plan made already, and wait until it is usable."""
    return Step(
        id=step_id,
        phase="backup",
        description=description,
        call=call,
        mutates=True,
        outputs=outputs,
        already_done=already_done,
        wait=wait,
        not_before=not_before,
        failure_hint=failure_hint,
    )


def dry_run(description: str, change_call: AwsCall, step_id: str = "dry-run") -> Step:
    """The change's own call with ``DryRun``: AWS answers whether it would be permitted."""
    return Step(
        id=step_id,
        phase="dry_run",
        description=description,
        call=change_call.model_copy(update={"params": {**change_call.params, "DryRun": True}}),
        mutates=False,
        expect_error=DRY_RUN_OK,
    )


def change(
    step_id: str,
    description: str,
    call: AwsCall,
    *,
    already_done: Lookup,
    destroys_data: bool = False,
    outputs: dict[str, str] | None = None,
    not_before: NotBefore | None = None,
    wait: WaitFor | None = None,
    on_conflict: RetryOnConflict | None = None,
    failure_hint: str | None = None,
) -> Step:
    """The mutation, with the lookup that tells a resumed run it already happened."""
    return Step(
        id=step_id,
        phase="change",
        description=description,
        call=call,
        mutates=True,
        destroys_data=destroys_data,
        outputs=outputs or {},
        already_done=already_done,
        not_before=not_before,
        wait=wait,
        on_conflict=on_conflict,
        failure_hint=failure_hint,
    )


def verify(
    step_id: str,
    description: str,
    call: AwsCall,
    *expect: Expectation,
    expect_error: str | None = None,
    outputs: dict[str, str] | None = None,
) -> Step:
    """Read again after the change, and expect its effect."""
    return Step(
        id=step_id,
        phase="verify",
        description=description,
        call=call,
        mutates=False,
        expect=expect,
        expect_error=expect_error,
        outputs=outputs or {},
    )


# ---- the "record an attribute, set it, set it back" template -----------------------------


@dataclass(frozen=True)
class SetAndSetBack:
    """A change that deletes nothing: one attribute (a volume type, a retention, a price
    class, a storage tier) is recorded, set, and on rollback set back.

    The apply is: the rule's pre-checks, the record (the backup), a dry run of the set call
    when the API has one, the set, its verification. The rollback is: the rule's pre-checks
    (the resource is as the apply left it), the set-back, its verifications."""

    set: Step
    verify_set: Step
    set_back: Step
    verify_set_back: tuple[Step, ...]
    record: Step | None = None
    dry_run: str | None = None
    """Description of the dry run of ``set``'s call; None where the API has no DryRun."""

    def apply_steps(self, prechecks: Iterable[Step]) -> tuple[Step, ...]:
        steps = [*prechecks]
        if self.record is not None:
            steps.append(self.record)
        if self.dry_run is not None:
            steps.append(dry_run(self.dry_run, self.set.call))
        return (*steps, self.set, self.verify_set)

    def rollback_steps(self, prechecks: Iterable[Step]) -> tuple[Step, ...]:
        return (*prechecks, self.set_back, *self.verify_set_back)


# ---- what a composed manifest calls ------------------------------------------------------


def calls_of(steps: Iterable[Step]) -> frozenset[tuple[str, str]]:
    """Every (service, operation) the steps make: each step's own call, its already-done
    lookup, its not-before read and the call its waiter polls. A rule's declared apply and
    rollback calls must be exactly these (the catalog conformance test)."""
    calls: set[tuple[str, str]] = set()
    for step in steps:
        for call in (
            step.call,
            step.already_done.call if step.already_done else None,
            step.not_before.call if step.not_before else None,
        ):
            if call is not None:
                calls.add((call.service, call.operation))
        if step.wait is not None:
            calls.add((step.call.service, waiter_operation(step.call.service, step.wait.waiter)))
    return frozenset(calls)
