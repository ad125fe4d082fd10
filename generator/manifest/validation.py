"""Everything checked before the first AWS call of an apply or a rollback.

A manifest is accepted only if: it parses against the schema, every call is on its rule's
allow-list, every parameter set passes botocore's own validation against the service model,
every reference points at an output an earlier step declares, the phases come in order with
a backup before anything that destroys data, and it equals what the rule derives from the
recorded finding (so a hand-edited plan.json cannot slip in another call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import UnknownServiceError
from botocore.model import OperationNotFoundError
from botocore.validate import ParamValidator

from generator.errors import ManifestError
from generator.iam.actions import ApiCall
from generator.manifest.diff import first_difference
from generator.manifest.models import PHASE_ORDER, AwsCall, Manifest, Plan, Rollback
from generator.manifest.refs import RUN_FACTS, UNRESOLVED, iter_refs, with_placeholders
from generator.manifest.waiters import botocore_session, waiter_operation

if TYPE_CHECKING:  # the catalog is passed in: rules import generator.manifest
    from generator.rules.base import Rule


class _RunTimeValueValidator(ParamValidator):  # type: ignore[misc]
    """botocore's validator, except that values known only at run time (references, merges)
    are accepted wherever they stand; botocore checks them again when the call is made."""

    # Lists of unconstrained scalars are type-checked in bulk, not through _validate.
    _BULK_STAND_INS: ClassVar[dict[str, Any]] = {
        "string": "",
        "integer": 0,
        "long": 0,
        "float": 0.0,
        "double": 0.0,
        "boolean": False,
    }

    def _validate(self, params: Any, shape: Any, errors: Any, name: str) -> None:
        if params is UNRESOLVED:
            return
        super()._validate(params, shape, errors, name)

    def _validate_list(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        member = shape.member
        if isinstance(param, list) and not self._shape_has_constraints(member):
            stand_in = self._BULK_STAND_INS.get(member.type_name, UNRESOLVED)
            param = [stand_in if item is UNRESOLVED else item for item in param]
        super()._validate_list(param, shape, errors, name)


def validate_call_params(call: AwsCall, where: str) -> None:
    try:
        operation = (
            botocore_session().get_service_model(call.service).operation_model(call.operation)
        )
    except UnknownServiceError:
        raise ManifestError(f"{where}: unknown AWS service {call.service!r}") from None
    except OperationNotFoundError:
        raise ManifestError(
            f"{where}: {call.service} has no operation {call.operation!r}"
        ) from None
    report = _RunTimeValueValidator().validate(
        with_placeholders(call.params), operation.input_shape
    )
    if report.has_errors():
        raise ManifestError(
            f"{where}: parameters of {call.label} do not match the AWS API:\n"
            + report.generate_report()
        )


def _calls_of(manifest: Manifest) -> Iterable[tuple[str, AwsCall]]:
    for step in manifest.steps:
        yield f"step {step.id!r}", step.call
        if step.already_done:
            yield f"step {step.id!r} lookup", step.already_done.call
        if step.not_before:
            yield f"step {step.id!r} not-before check", step.not_before.call
        if step.wait:
            operation = waiter_operation(step.call.service, step.wait.waiter)
            yield (
                f"step {step.id!r} waiter",
                AwsCall(service=step.call.service, operation=operation, params=step.wait.params),
            )


def check_allow_list(manifest: Manifest, allowed: frozenset[ApiCall]) -> None:
    for where, call in _calls_of(manifest):
        if (call.service, call.operation) not in allowed:
            raise ManifestError(
                f"{manifest.kind_label()} {where}: {call.label} is not allowed for rule "
                f"{manifest.rule!r}",
                hint="manifests may only make the calls their rule declares",
            )


def check_params(manifest: Manifest) -> None:
    for where, call in _calls_of(manifest):
        validate_call_params(call, f"{manifest.kind_label()} {where}")


def check_phases(manifest: Manifest) -> None:
    seen_backup = False
    last = 0
    for step in manifest.steps:
        position = PHASE_ORDER.index(step.phase)
        if position < last:
            raise ManifestError(
                f"{manifest.kind_label()} step {step.id!r}: phase {step.phase!r} comes after "
                f"{PHASE_ORDER[last]!r}; order must be {' → '.join(PHASE_ORDER)}"
            )
        last = position
        seen_backup = seen_backup or step.phase == "backup"
        if step.destroys_data and not seen_backup:
            raise ManifestError(
                f"{manifest.kind_label()} step {step.id!r} destroys data with no backup before it"
            )
        if step.mutates and step.phase in ("precheck", "dry_run", "verify"):
            raise ManifestError(
                f"{manifest.kind_label()} step {step.id!r}: a {step.phase} step may not mutate"
            )
        if step.mutates and step.already_done is None:
            raise ManifestError(
                f"{manifest.kind_label()} step {step.id!r} mutates but has no lookup that "
                "tells whether it already happened, so a resume could repeat it"
            )
        if step.already_done and set(step.already_done.outputs) != set(step.outputs):
            raise ManifestError(
                f"{manifest.kind_label()} step {step.id!r}: its lookup must record the same "
                f"outputs as the call ({sorted(step.outputs)})"
            )
    ids = [step.id for step in manifest.steps]
    if len(set(ids)) != len(ids):
        raise ManifestError(f"{manifest.kind_label()}: step IDs repeat: {ids}")
    check_conflict_policies(manifest)


def check_conflict_policies(manifest: Manifest) -> None:
    """A retry on conflict re-runs an earlier read-only step whose outputs the call uses;
    anything else would retry blindly and overwrite the change that caused the conflict."""
    earlier: dict[str, Any] = {}
    for step in manifest.steps:
        policy = step.on_conflict
        if policy is not None:
            where = f"{manifest.kind_label()} step {step.id!r}"
            reread = earlier.get(policy.reread_step)
            if reread is None:
                raise ManifestError(
                    f"{where}: on_conflict re-reads {policy.reread_step!r}, which is not an "
                    "earlier step"
                )
            if reread.mutates or reread.expect_error is not None:
                raise ManifestError(
                    f"{where}: on_conflict must re-read with a plain read-only step, "
                    f"not {policy.reread_step!r}"
                )
            if not step.mutates:
                raise ManifestError(f"{where}: on_conflict is for mutating steps")
            used = {
                ref_step for scope, ref_step, _ in iter_refs(step.call.params) if scope == "steps"
            }
            if policy.reread_step not in used:
                raise ManifestError(
                    f"{where}: on_conflict re-reads {policy.reread_step!r} but the call uses "
                    "none of its outputs, so a retry would send the same request"
                )
        earlier[step.id] = step


def check_references(manifest: Manifest, apply_outputs: dict[str, set[str]]) -> None:
    """Each reference names an output declared by an earlier step (or the step's own, for its
    waiter), or, in a rollback, an output of the plan's steps."""
    declared: dict[str, set[str]] = {}
    for step in manifest.steps:
        sources: list[tuple[str, Any, dict[str, set[str]]]] = [
            ("call", step.call.params, declared),
        ]
        if step.already_done:
            sources.append(("lookup", step.already_done.call.params, declared))
        if step.not_before:
            sources.append(("not-before check", step.not_before.call.params, declared))
        if step.wait:
            sources.append(("waiter", step.wait.params, {**declared, step.id: set(step.outputs)}))
        for expectation in step.expect:
            sources.append((f"expectation {expectation.what!r}", expectation.equals, declared))
        for part, params, visible in sources:
            for scope, ref_step, name in iter_refs(params):
                available = {"steps": visible, "run": RUN_FACTS}.get(scope, apply_outputs)
                if name not in available.get(ref_step, set()):
                    raise ManifestError(
                        f"{manifest.kind_label()} step {step.id!r} {part}: reference "
                        f"{scope}.{ref_step}.{name} does not name an output of an earlier step"
                    )
        declared[step.id] = set(step.outputs)


def check_derivation(manifest: Manifest, derived: Manifest) -> None:
    if manifest == derived:
        return
    where = first_difference(
        derived.model_dump(mode="json"),
        manifest.model_dump(mode="json"),
        expected_by="the rule derives",
    )
    raise ManifestError(
        f"{manifest.kind_label()} differs from what rule {manifest.rule!r} derives from the "
        f"recorded finding: {where}",
        hint="regenerate it with `reclaim plan`; manifests are never edited by hand",
    )


def rule_in(rules: Mapping[str, Rule[Any, Any]], name: str) -> Rule[Any, Any]:
    """The rule a manifest names, from the catalog the caller passes (generator.rules.RULES
    in reclaim itself)."""
    try:
        return rules[name]
    except KeyError:
        raise ManifestError(
            f"unknown rule {name!r}; this reclaim knows: {', '.join(sorted(rules))}",
            hint="upgrade reclaim, or check that the manifest was generated by reclaim",
        ) from None


def validate_pair(plan: Plan, rollback: Rollback, rules: Mapping[str, Rule[Any, Any]]) -> None:
    """Every static check on a plan and its rollback, against its rule in ``rules`` (the
    catalog). Makes no AWS call."""
    rule = rule_in(rules, plan.rule)
    finding = plan.finding
    if finding.rule != plan.rule or plan.plan_id != finding.id:
        raise ManifestError("plan.json: plan_id and rule must match the recorded finding")
    if (plan.account, plan.region) != (finding.account, finding.region):
        raise ManifestError("plan.json: account and region must match the recorded finding")
    if rollback.plan_id != plan.plan_id or rollback.rule != plan.rule:
        raise ManifestError("rollback.json belongs to a different plan than plan.json")
    if finding.reversibility == "report-only":
        raise ManifestError(f"{finding.id} is report-only: reclaim never executes it")
    for manifest in (plan, rollback):
        check_phases(manifest)
    check_references(plan, {})
    plan_outputs = {step.id: set(step.outputs) for step in plan.steps}
    check_references(rollback, plan_outputs)
    check_allow_list(plan, rule.calls.apply)
    check_allow_list(rollback, rule.calls.rollback)
    check_params(plan)
    check_params(rollback)
    check_derivation(plan, rule.build_plan(finding))
    check_derivation(rollback, rule.build_rollback(finding))
