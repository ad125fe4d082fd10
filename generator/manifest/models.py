"""Plan, Rollback and Journal: the files a remediation PR carries and the executor writes.

A plan is a list of AWS calls, each with the checks that make it safe: expectations on the
response, an error code that means success (a dry run), a lookup that makes it idempotent,
and a botocore waiter. Values produced by earlier steps are referenced structurally
(``{"$from": "steps.backup.SnapshotId"}``), never spliced into strings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from generator.findings import Finding

MANIFEST_SCHEMA_VERSION = 1

Phase = Literal["precheck", "backup", "dry_run", "change", "verify"]
PHASE_ORDER: tuple[Phase, ...] = ("precheck", "backup", "dry_run", "change", "verify")


class _Frozen(BaseModel):
    # Rules import these to build plans, so every scan imports them, but a scan never
    # validates one: their validators are built on first use, not at import.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AwsCall(_Frozen):
    service: str = Field(description="boto3 service name, e.g. 'ec2'.")
    operation: str = Field(description="API operation name as AWS spells it, e.g. 'DeleteVolume'.")
    params: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.service}:{self.operation}"


class Expectation(_Frozen):
    path: str = Field(description="JMESPath over the response.")
    equals: JsonValue = Field(
        description="The expected value; may be a reference or a merge, resolved at run time "
        "(e.g. a rollback checking the resource is as the apply left it)."
    )
    what: str = Field(description="What is being checked, for the error message.")
    compare: Literal["equals", "at_or_after"] = Field(
        default="equals",
        description="'at_or_after': the value is a timestamp no earlier than ``equals`` (a "
        "timestamp, usually a reference such as run.apply.observed_at), less the clock skew "
        "reclaim allows between the runner and AWS.",
    )


class Lookup(_Frozen):
    """A read-only call that tells whether a mutating step has already happened."""

    call: AwsCall
    found_when: str | None = Field(
        default=None, description="JMESPath; a truthy result means the step already happened."
    )
    found_on_error: str | None = Field(
        default=None, description="An error code meaning the step already happened."
    )
    not_done_on_error: str | None = Field(
        default=None,
        description="An error code meaning the step has not happened yet (S3 answers "
        "NoSuchLifecycleConfiguration where there is no configuration to compare).",
    )
    outputs: dict[str, str] = Field(
        default_factory=dict, description="Outputs to record from the lookup response."
    )
    created_at: str | None = Field(
        default=None,
        description="JMESPath to when the found resource was created. It counts as this "
        "run's only if created after the run observed the resource: an older one (an earlier "
        "attempt's, before the resource changed) never makes the step 'already done'.",
    )

    @model_serializer(mode="wrap")
    def _without_unused_newer_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        # not_done_on_error came after manifests were published: left out when unused, so
        # every manifest written before it serializes byte for byte as it did.
        data = handler(self)
        if isinstance(data, dict) and data.get("not_done_on_error") is None:
            data.pop("not_done_on_error", None)
        return data


class WaitFor(_Frozen):
    waiter: str = Field(description="botocore waiter name, e.g. 'snapshot_completed'.")
    params: dict[str, JsonValue]
    delay_seconds: int = Field(default=15, ge=1)
    max_attempts: int = Field(default=40, ge=1)


class NotBefore(_Frozen):
    """A step AWS refuses to run too soon after an earlier event, e.g. EBS takes a volume's
    next modification only once the previous one has completed (and at most four in a
    rolling 24 hours). Before the step's call, the executor reads ``call``: until
    ``ready_when`` holds over its answer, or until the latest ``time_path`` plus
    ``delay_seconds`` has passed, it stops with a retry-later error saying when, and the
    journal keeps the run resumable. If AWS refuses the call anyway with one of
    ``refused_with`` (a limit the read cannot see), the executor waits until the time AWS
    gives in its error message, never guessing a shorter one."""

    call: AwsCall
    time_path: str | None = Field(
        default=None, description="JMESPath to a timestamp or a list of them; latest counts."
    )
    delay_seconds: int = Field(default=0, ge=0)
    ready_when: str | None = Field(
        default=None,
        description="JMESPath over the call's answer, true once AWS takes the step's call.",
    )
    recheck_after_seconds: int = Field(
        default=900,
        ge=60,
        description="When ``ready_when`` does not hold yet (AWS gives no time for it): when to "
        "look again.",
    )
    refused_with: tuple[str, ...] = Field(
        default=(),
        description="Error codes with which AWS refuses the call too soon, naming in the "
        "message the time it will take it.",
    )
    reason: str = Field(description="Why the wait exists, for the message.")

    @model_validator(mode="after")
    def _reads_something(self) -> NotBefore:
        if self.time_path is None and self.ready_when is None:
            raise ValueError("a not-before check needs a time_path or a ready_when")
        return self


class RetryOnConflict(_Frozen):
    """For a call guarded by a version token (CloudFront's IfMatch/ETag): when AWS answers
    ``error_code``, someone changed the resource after it was read. The executor then re-runs
    ``reread_step`` (an earlier read-only step: it reads the resource again and re-checks its
    expectations, stopping the run if they no longer hold) and retries with the fresh values,
    instead of overwriting the other change."""

    error_code: str = Field(description="e.g. 'PreconditionFailed'.")
    reread_step: str = Field(description="ID of the earlier read-only step to run again.")
    max_attempts: int = Field(default=3, ge=2, le=10, description="Calls in all, the first too.")


class Step(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    phase: Phase
    description: str = Field(description="What the step does, in plain words.")
    call: AwsCall
    mutates: bool
    destroys_data: bool = Field(
        default=False,
        description="Deletes data: refused unless every backup step before it has completed.",
    )
    expect: tuple[Expectation, ...] = ()
    expect_error: str | None = Field(
        default=None,
        description="The error code that means success (DryRunOperation, a NotFound). "
        "A call that succeeds instead is a failure.",
    )
    outputs: dict[str, str] = Field(
        default_factory=dict, description="Name → JMESPath over the response, kept in the journal."
    )
    already_done: Lookup | None = None
    not_before: NotBefore | None = None
    wait: WaitFor | None = None
    on_conflict: RetryOnConflict | None = None
    failure_hint: str | None = Field(
        default=None, description="What a failure of this step most likely means, for the user."
    )


class Manifest(_Frozen):
    schema_version: Literal[1] = 1
    plan_id: str
    rule: str
    account: str
    region: str
    steps: tuple[Step, ...] = Field(min_length=1)
    notes: tuple[str, ...] = Field(default=(), description="What a reviewer must know.")

    def kind_label(self) -> str:
        return "manifest"

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class Plan(Manifest):
    kind: Literal["plan"] = "plan"
    finding: Finding

    def kind_label(self) -> str:
        return "plan.json"


class Rollback(Manifest):
    kind: Literal["rollback"] = "rollback"

    def kind_label(self) -> str:
        return "rollback.json"


StepStatus = Literal["started", "completed", "failed"]
RunStatus = Literal["running", "completed", "failed", "aborted", "waiting"]


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    step_id: str
    status: StepStatus
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    request: dict[str, JsonValue] = Field(default_factory=dict)
    outputs: dict[str, JsonValue] = Field(default_factory=dict)
    note: str | None = None
    error: str | None = None


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: Literal["apply", "rollback", "re-stop"]
    status: RunStatus
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    attempts: int = 1
    actor: str | None = Field(default=None, description="Who started it (e.g. GitHub actor).")
    steps: list[StepRecord] = Field(default_factory=list)
    error: str | None = None
    not_before: AwareDatetime | None = Field(
        default=None, description="When status is 'waiting': the earliest time a re-run can go on."
    )
    observed_at: AwareDatetime | None = Field(
        default=None,
        description="When apply last observed the resource through its rule (before its "
        "first change): backups made before it are not this run's.",
    )
    observed_record_sha256: str | None = Field(
        default=None, description="Digest of the resource record that observation produced."
    )

    @model_validator(mode="after")
    def _finished_when_completed(self) -> RunRecord:
        # reclaim sets both at once; a completed run without an end is not one it wrote.
        if self.status == "completed" and self.finished_at is None:
            raise ValueError("a completed run records when it finished (finished_at)")
        return self

    def record(self, step_id: str) -> StepRecord | None:
        for record in self.steps:
            if record.step_id == step_id:
                return record
        return None

    def outputs(self) -> dict[str, dict[str, JsonValue]]:
        return {r.step_id: r.outputs for r in self.steps if r.status == "completed"}


class Journal(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    schema_version: Literal[1] = 1
    plan_id: str
    plan_sha256: str = Field(description="Digest of the plan.json this journal belongs to.")
    rollback_sha256: str
    apply: RunRecord | None = None
    rollback: RunRecord | None = None
    follow_ups: list[RunRecord] = Field(
        default_factory=list,
        description="Runs after the apply that repeat its change because AWS undid it (a "
        "stopped DB that AWS started again after 7 days, stopped again): generator.pipeline."
        "restarts. Left out of the file while empty.",
    )

    @model_serializer(mode="wrap")
    def _without_empty_follow_ups(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and not data.get("follow_ups"):
            data.pop("follow_ups", None)
        return data
