"""apply and rollback: validate everything, then run steps, journaling after every one.

What a run believes: live AWS state, the reclaim.yml (and state file) it was started with,
and its own journal, each checked against AWS; never a value because plan.json says so.
- One run of a plan at a time: the plan's lock is held from loading the journal to the end.
- Zero AWS calls before the manifests, names and journal pass validation.
- Before its first change, apply observes the resource again through its rule
  (generator.executor.observe) and refuses unless the manifests derived from that
  observation are exactly plan.json and rollback.json.
- Resuming: a step the journal calls completed is believed only when its lookup confirms it
  in AWS; a mutating step always asks its lookup first whether it already happened (a crash
  can fall between an AWS call and its journal entry), so re-running never repeats a
  mutation; a lookup counts only what this run made (a backup made before the run observed
  the resource is not this run's). Until a change step has succeeded, the pre-checks and the
  observation run again on every resume, because the resource may have changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import JsonValue

from generator.errors import (
    AwsCallFailed,
    ConfigError,
    CredentialsError,
    ManifestError,
    PrecheckFailed,
    ReclaimError,
    RetryLater,
    StateRefusal,
)
from generator.executor.calls import (
    CallError,
    at_or_after,
    extract,
    invoke,
    invoke_all,
    parse_time,
    time_in_message,
    unmet,
    wait,
)
from generator.executor.lock import DEFAULT_WAIT_SECONDS, plan_lock
from generator.executor.observe import Observer, check_observed, record_digest
from generator.findings import Finding
from generator.folder_checks import load_checked
from generator.iac.folder import is_code_folder, load_code_folder
from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import (
    Journal,
    Manifest,
    NotBefore,
    Plan,
    Rollback,
    RunRecord,
    Step,
    StepRecord,
)
from generator.manifest.refs import Outputs, resolve

Clock = Callable[[], datetime]
ClientFor = Callable[[str, str], Any]
"""(service, region) → boto3 client for the plan's account."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StepOutcome:
    step_id: str
    description: str
    status: Literal["done", "already done", "skipped (completed earlier)"]
    outputs: dict[str, JsonValue] = field(default_factory=dict)


@dataclass
class RunResult:
    plan_id: str
    kind: Literal["apply", "rollback"]
    steps: list[StepOutcome]
    nothing_to_do: str | None = None

    def output(self, step_id: str, name: str) -> JsonValue:
        for outcome in self.steps:
            if outcome.step_id == step_id:
                return outcome.outputs.get(name)
        return None


class CodeChangeRun(Protocol):
    """A change made by applying code (a merged Terraform edit), not by an API step.

    ``check`` is told the finding as observed again now, before any backup, and refuses
    (StateRefusal) unless what it would apply is exactly that finding's change; it returns
    what it will apply, for the journal. ``apply`` then makes that change, after the backups."""

    step_id: str
    description: str

    def check(self, observed: Finding) -> dict[str, JsonValue]: ...
    def apply(self) -> dict[str, JsonValue]: ...


class StepListener(Protocol):
    """Progress of a run, step by step; ``detail`` is a status, a wait or an error."""

    def started(self, step_id: str, description: str, detail: str) -> None: ...
    def waiting(self, step_id: str, description: str, detail: str) -> None: ...
    def finished(self, step_id: str, description: str, detail: str) -> None: ...
    def failed(self, step_id: str, description: str, detail: str) -> None: ...


@dataclass
class Executor:
    """Runs a remediation folder's manifests against one account."""

    client_for: ClientFor
    account_id: Callable[[], str]
    observer: Observer
    """Looks at the plan's resource again with the trusted reclaim.yml and state file."""
    clock: Clock = utc_now
    actor: str | None = None
    lock_wait_seconds: float = DEFAULT_WAIT_SECONDS
    on_step: StepListener | None = None
    """Told as each step starts, waits, finishes or fails (the CLI streams it)."""
    code_change: CodeChangeRun | None = None
    """For a folder whose change is made in code (iac.json): how that change is checked
    and applied (generator.iac.apply.TerraformChange)."""

    def _lock_wait(self, event: str, holder: str) -> None:
        if self.on_step is None:
            return
        what = "the plan lock, held by another apply or rollback"
        if event == "waiting":
            limit = f"up to {int(self.lock_wait_seconds)} s"
            self.on_step.waiting("lock", what, f"{what} ({holder}; {limit})")
        elif event == "acquired":
            self.on_step.finished("lock", what, "acquired")
        else:
            self.on_step.failed("lock", what, "gave up waiting")

    def _tell(self, event: str, step: Step, detail: str = "") -> None:
        if self.on_step is not None:
            getattr(self.on_step, event)(step.id, step.description, detail)

    # ---- entry points --------------------------------------------------------------

    def apply(self, path: Path) -> RunResult:
        with plan_lock(path, wait_seconds=self.lock_wait_seconds, on_wait=self._lock_wait):
            if is_code_folder(path):
                return self._apply_code(path)
            return self._apply(path)

    def rollback(self, path: Path) -> RunResult:
        with plan_lock(path, wait_seconds=self.lock_wait_seconds, on_wait=self._lock_wait):
            if is_code_folder(path):
                return self._rollback_code(path)
            return self._rollback(path)

    def _apply(self, path: Path) -> RunResult:
        folder, plan, rollback, journal = self._load(path)
        if journal.rollback is not None:
            raise StateRefusal(
                f"{plan.plan_id} was rolled back on {journal.rollback.started_at:%Y-%m-%d}; "
                "it will not be applied again",
                hint="if the resource is idle again, the next scan opens a new PR",
            )
        if journal.apply is not None and journal.apply.status == "completed":
            return RunResult(
                plan.plan_id,
                "apply",
                [],
                nothing_to_do=f"already applied on {journal.apply.finished_at:%Y-%m-%d %H:%M} UTC;"
                " nothing to do",
            )
        self._check_account(plan)
        run = self._start_run(journal, "apply")
        outcomes = self._run(folder, journal, run, plan, observe=(plan, rollback))
        return RunResult(plan.plan_id, "apply", outcomes)

    def _apply_code(self, path: Path) -> RunResult:
        """A merged code change: the rule's pre-checks, the observation, the code change's
        check (nothing is backed up unless it passes), the rule's backups, then the change,
        each journaled as an API plan's steps are."""
        code = self.code_change
        if code is None:
            raise ConfigError(
                f"{path.name} is a change made in code (iac.json), and this run cannot apply "
                "code; nothing was changed",
                hint="merged code changes are applied by `reclaim apply-merged`",
            )
        folder, plan, rollback, journal = self._load_code(path)
        if journal.rollback is not None:
            raise StateRefusal(f"{plan.plan_id} was rolled back; it will not be applied again")
        if journal.apply is not None and journal.apply.status == "completed":
            return RunResult(
                plan.plan_id,
                "apply",
                [],
                nothing_to_do=f"already applied on {journal.apply.finished_at:%Y-%m-%d %H:%M} UTC;"
                " nothing to do",
            )
        previous = journal.apply.record(code.step_id) if journal.apply else None
        if previous is not None and previous.status == "started":
            raise StateRefusal(
                f"{plan.plan_id}: an earlier run started {code.description} and did not record "
                "how it ended; reclaim changed nothing more",
                hint="check the resource and the Terraform state, then the journal's history",
            )
        self._check_account(plan)
        run = self._start_run(journal, "apply")
        backups = plan.model_copy(
            update={"steps": [s for s in plan.steps if s.phase in ("precheck", "backup")]}
        )
        outcomes = self._run(folder, journal, run, backups, observe=(plan, rollback), code=code)
        return RunResult(plan.plan_id, "apply", outcomes)

    def _rollback(self, path: Path) -> RunResult:
        folder, plan, rollback, journal = self._load(path)
        applied = journal.apply
        if applied is None:
            raise StateRefusal(f"{plan.plan_id} was never applied: nothing to roll back")
        if journal.rollback is not None and journal.rollback.status == "completed":
            raise StateRefusal(
                f"{plan.plan_id} was already rolled back on "
                f"{journal.rollback.finished_at:%Y-%m-%d %H:%M} UTC"
            )
        change_steps = {s.id for s in plan.steps if s.phase == "change"}
        if applied.status != "completed" and not any(
            record.step_id in change_steps for record in applied.steps
        ):
            raise _stopped_before_the_change(plan, applied)
        self._check_account(plan)
        run = self._start_run(journal, "rollback")
        outcomes = self._run(folder, journal, run, rollback, observe=None)
        return RunResult(plan.plan_id, "rollback", outcomes)

    def repeat_change(self, path: Path) -> RunResult:
        """Run the applied plan's pre-checks, change and verification again, recorded as a
        follow-up in the journal: for a change AWS itself undoes (a stopped DB instance or
        Aurora cluster that AWS starts again after 7 days). Only the reviewed steps of the
        plan run, and only while the journal says it was applied and never rolled back; the
        caller (generator.pipeline.restarts) has checked in AWS that AWS undid it."""
        with plan_lock(path, wait_seconds=self.lock_wait_seconds, on_wait=self._lock_wait):
            folder, plan, _rollback, journal = self._load(path)
            if journal.apply is None or journal.apply.status != "completed":
                raise StateRefusal(f"{plan.plan_id} was never applied: nothing to repeat")
            if journal.rollback is not None:
                raise StateRefusal(f"{plan.plan_id} was rolled back: its change is not repeated")
            self._check_account(plan)
            repeated = tuple(s for s in plan.steps if s.phase in ("precheck", "change", "verify"))
            run = RunRecord(
                kind="re-stop", status="running", started_at=self.clock(), actor=self.actor
            )
            journal.follow_ups.append(run)
            outcomes = self._run(
                folder, journal, run, plan.model_copy(update={"steps": repeated}), observe=None
            )
            return RunResult(plan.plan_id, "apply", outcomes)

    def _rollback_code(self, path: Path) -> RunResult:
        """Undo a merged code change: the rule's rollback, from the backups the apply
        journaled (the resource comes back under a new ID; bringing it back under its
        Terraform address is the follow-up import, generator.iac.apply.import_block)."""
        folder, plan, rollback, journal = self._load_code(path)
        applied = journal.apply
        if applied is None:
            raise StateRefusal(f"{plan.plan_id} was never applied: nothing to roll back")
        if journal.rollback is not None and journal.rollback.status == "completed":
            raise StateRefusal(
                f"{plan.plan_id} was already rolled back on "
                f"{journal.rollback.finished_at:%Y-%m-%d %H:%M} UTC"
            )
        if applied.status != "completed":
            # The code change is the apply's last step: until it completed, nothing changed.
            raise _stopped_before_the_change(plan, applied)
        self._check_account(plan)
        run = self._start_run(journal, "rollback")
        outcomes = self._run(folder, journal, run, rollback, observe=None)
        return RunResult(plan.plan_id, "rollback", outcomes)

    def restored(self, path: Path, step_id: str) -> dict[str, JsonValue]:
        """What a completed rollback of a code change restored, as AWS shows it now: the
        rollback step's own already-done lookup (the rule's declared query: a volume made
        from this plan's backup snapshot, the address with the recorded IP), never the
        journal's word alone. Refuses unless it agrees with what the journal recorded."""
        with plan_lock(path, wait_seconds=self.lock_wait_seconds, on_wait=self._lock_wait):
            folder, plan, rollback, journal = self._load_code(path)
            done = journal.rollback
            if done is None or done.status != "completed":
                raise StateRefusal(f"{plan.plan_id} was not rolled back: nothing was restored")
            step = next((s for s in rollback.steps if s.id == step_id), None)
            if step is None or step.already_done is None:
                raise StateRefusal(f"{plan.plan_id}: the rollback has no step {step_id!r}")
            self._check_account(plan)
            ctx = _InProgress(folder, journal, done, rollback, self.client_for)
            found = _lookup(ctx.client(step), step, ctx.scopes(), None)
            record = done.record(step_id)
            if found is None or record is None:
                raise StateRefusal(
                    f"{plan.plan_id}: AWS does not show what rollback step {step_id!r} "
                    "restored; no follow-up was opened",
                    hint="check the restored resource and journal.json's history in git",
                )
            differs = {k: (record.outputs.get(k), v) for k, v in found.items()}
            differs = {k: pair for k, pair in differs.items() if pair[0] != pair[1]}
            if differs:
                said = "; ".join(f"{k}: journal {a!r}, AWS {b!r}" for k, (a, b) in differs.items())
                raise StateRefusal(
                    f"{plan.plan_id}: journal.json and AWS disagree on what the rollback "
                    f"restored ({said}); no follow-up was opened",
                    hint="journal.json may not be reclaim's own: check its history in git",
                )
            return found

    # ---- preparation (no AWS writes) ---------------------------------------------------

    def _load_code(self, path: Path) -> tuple[RemediationFolder, Plan, Rollback, Journal]:
        loaded = load_code_folder(path)
        folder = RemediationFolder(path)
        journal = folder.load_journal()
        if journal is None:
            journal = Journal(
                plan_id=loaded.plan.plan_id,
                plan_sha256=loaded.sha256,
                rollback_sha256=loaded.sha256,
            )
        elif (journal.plan_sha256, journal.rollback_sha256) != (loaded.sha256, loaded.sha256):
            raise ManifestError(
                f"{folder.journal_path} was written for a different iac.json",
                hint="iac.json must not change once a run has started; restore it from git",
            )
        return folder, loaded.plan, loaded.rollback, journal

    def _load(self, path: Path) -> tuple[RemediationFolder, Plan, Rollback, Journal]:
        folder = RemediationFolder(path)
        plan, rollback = load_checked(path)
        plan_sha, rollback_sha = digest(folder.plan_text()), digest(folder.rollback_text())
        journal = folder.load_journal()
        if journal is None:
            journal = Journal(
                plan_id=plan.plan_id, plan_sha256=plan_sha, rollback_sha256=rollback_sha
            )
        elif (journal.plan_sha256, journal.rollback_sha256) != (plan_sha, rollback_sha):
            raise ManifestError(
                f"{folder.journal_path} was written for a different plan.json/rollback.json",
                hint="manifests must not change once a run has started; restore them from git",
            )
        return folder, plan, rollback, journal

    def _check_account(self, plan: Plan) -> None:
        actual = self.account_id()
        if actual != plan.account:
            raise CredentialsError(
                f"the credentials reach account {actual}, but {plan.plan_id} belongs to "
                f"account {plan.account}; nothing was changed",
                hint="use credentials (or the role chain) of the plan's account",
            )

    def _start_run(self, journal: Journal, kind: Literal["apply", "rollback"]) -> RunRecord:
        run = journal.apply if kind == "apply" else journal.rollback
        if run is None:
            run = RunRecord(kind=kind, status="running", started_at=self.clock(), actor=self.actor)
            setattr(journal, kind, run)
        else:
            run.status, run.error, run.not_before = "running", None, None
            run.attempts += 1
        return run

    # ---- execution -----------------------------------------------------------------------

    def _run(
        self,
        folder: RemediationFolder,
        journal: Journal,
        run: RunRecord,
        manifest: Manifest,
        *,
        observe: tuple[Plan, Rollback] | None,
        code: CodeChangeRun | None = None,
    ) -> list[StepOutcome]:
        """Run ``manifest``'s steps; for an apply, ``observe`` is its plan and rollback,
        derived again from the observation. ``code``, after the steps: the change made in
        code, checked right after the observation."""
        ctx = _InProgress(folder, journal, run, manifest, self.client_for)
        outcomes: list[StepOutcome] = []
        try:
            change_done = self._confirm_progress(ctx)
            # After the pre-checks (their messages say precisely what drifted), before the
            # first step that could mutate.
            must_observe = observe is not None and not change_done
            for step in manifest.steps:
                if must_observe and step.phase != "precheck":
                    assert observe is not None
                    self._observe(ctx, *observe, code)
                    must_observe = False
                record = run.record(step.id)
                # Checks (pre-checks, dry runs) are never believed from the journal: until a
                # change has taken effect they run again on every resume.
                recheck = step.phase in ("precheck", "dry_run") and not change_done
                if record and record.status == "completed" and not recheck:
                    outcomes.append(
                        StepOutcome(
                            step.id, step.description, "skipped (completed earlier)", record.outputs
                        )
                    )
                    self._tell("finished", step, "skipped (completed earlier)")
                    continue
                if step.destroys_data:
                    _require_backups(manifest, run, step)
                outcomes.append(self._run_step(ctx, step))
                change_done = change_done or step.phase == "change"
            if must_observe:  # only pre-checks ran: observe before the code change
                assert observe is not None
                self._observe(ctx, *observe, code)
            if code is not None:
                outcomes.append(self._run_code(ctx, code))
        except RetryLater as error:
            run.status, run.error, run.not_before = "waiting", error.message, error.not_before
            ctx.save()
            raise
        except (PrecheckFailed, AwsCallFailed, ManifestError, StateRefusal, ConfigError) as error:
            run.status = "aborted" if isinstance(error, PrecheckFailed) else "failed"
            run.error = error.message
            ctx.save()
            raise
        run.status, run.finished_at = "completed", self.clock()
        ctx.save()
        return outcomes

    def _observe(
        self, ctx: _InProgress, plan: Plan, rollback: Rollback, code: CodeChangeRun | None
    ) -> None:
        """Look at the resource again through its rule; refuse unless the reviewed manifests
        are what that observation derives, and, for a change made in code, unless that code
        changes exactly the observed resource. Backups count only from the first
        observation."""
        now = self.clock()
        observation = self.observer.observe(plan, self.client_for, now)
        check_observed(plan, rollback, observation.finding)
        if code is not None:
            try:
                ctx.code_request = code.check(observation.finding)
            except (StateRefusal, AwsCallFailed):
                raise
            except ReclaimError as error:  # terraform missing, say: a failed run, journaled
                raise AwsCallFailed(error.message, hint=error.hint) from None
        if ctx.run.observed_at is None:
            # A backup must start after this: min() keeps an injected as-of clock (a test's,
            # the demo's days later) from rejecting backups AWS timestamps in real time.
            ctx.run.observed_at = min(now, utc_now())
        ctx.run.observed_record_sha256 = record_digest(observation.finding)
        ctx.save()

    def _run_code(self, ctx: _InProgress, code: CodeChangeRun) -> StepOutcome:
        """The change made in code, once every backup has completed; journaled before it
        starts, so a crash during it is seen (and refused) on the next run."""
        run, manifest = ctx.run, ctx.manifest
        for backup in (s for s in manifest.steps if s.phase == "backup"):
            record = run.record(backup.id)
            if record is None or record.status != "completed":
                raise AwsCallFailed(
                    f"refusing {code.description}: backup step {backup.id!r} has not completed"
                )
        assert ctx.code_request is not None, "the observation checks the code change first"
        record = StepRecord(
            step_id=code.step_id,
            status="started",
            started_at=self.clock(),
            request=ctx.code_request,
        )
        previous = run.record(code.step_id)
        if previous is not None:
            run.steps.remove(previous)
        run.steps.append(record)
        ctx.save()
        if self.on_step is not None:
            self.on_step.started(code.step_id, code.description, "")
        try:
            record.outputs = code.apply()
        except ReclaimError as error:
            record.status, record.error = "failed", error.message
            record.finished_at = self.clock()
            if self.on_step is not None:
                self.on_step.failed(code.step_id, code.description, error.message)
            raise AwsCallFailed(
                f"{manifest.plan_id}: {code.description} failed: {error.message}",
                hint="fix the cause, then re-run the apply: it checks the plan again",
            ) from None
        record.status, record.finished_at = "completed", self.clock()
        ctx.save()
        if self.on_step is not None:
            self.on_step.finished(code.step_id, code.description, "done")
        return StepOutcome(code.step_id, code.description, "done", record.outputs)

    def _confirm_progress(self, ctx: _InProgress) -> bool:
        """On a resume, ask AWS about every mutating step the journal mentions; True when a
        change step has taken effect. A completed step AWS does not confirm runs again if it
        came before any change, and stops the run if it is a change (or came after one)."""
        run, manifest = ctx.run, ctx.manifest
        if not run.steps:
            return False
        change_done = False
        for step in manifest.steps:
            record = run.record(step.id)
            if step.phase != "change" or not step.mutates or record is None:
                continue
            confirmed = _lookup(ctx.client(step), step, ctx.scopes(), run) is not None
            if record.status == "completed" and not confirmed:
                raise StateRefusal(
                    f"{manifest.plan_id}: journal.json says step {step.id!r} "
                    f"({step.call.label}) completed, but AWS does not show it; reclaim "
                    "changed nothing more",
                    hint="someone undid the change, or journal.json is not reclaim's own: "
                    "check the resource and the journal's history in git",
                )
            change_done = change_done or confirmed
        for step in manifest.steps:
            record = run.record(step.id)
            if step.phase == "change" or not step.mutates or record is None:
                continue
            if record.status != "completed":
                continue
            found = _lookup(ctx.client(step), step, ctx.scopes(), run)
            if found is not None:
                record.outputs = found or record.outputs
                record.note = "confirmed in AWS on resume"
                continue
            if change_done:
                raise StateRefusal(
                    f"{manifest.plan_id}: journal.json says step {step.id!r} "
                    f"({step.call.label}) completed, but AWS does not show it, and a change "
                    "already took effect; reclaim changed nothing more",
                    hint="check the resource and journal.json's history in git",
                )
            record.status = "failed"
            record.error = "not confirmed in AWS on resume: it runs again"
        ctx.save()
        return change_done

    def _run_step(self, ctx: _InProgress, step: Step) -> StepOutcome:
        run, manifest = ctx.run, ctx.manifest
        client, scopes = ctx.client(step), ctx.scopes()
        params = resolve(step.call.params, scopes)
        record = StepRecord(
            step_id=step.id, status="started", started_at=self.clock(), request=params
        )
        previous = run.record(step.id)
        if previous is not None:
            run.steps.remove(previous)
        run.steps.append(record)
        # Journal before a mutation: a crash after the call is then visible on resume.
        ctx.save()

        status: Literal["done", "already done"] = "done"
        self._tell("started", step)
        try:
            outputs = _lookup(client, step, scopes, run) if step.mutates else None
            if outputs is not None:
                status, record.note = "already done", "found already done by its lookup"
            else:
                if step.not_before:
                    self._check_not_before(client, step, step.not_before, scopes, manifest, run)
                try:
                    outputs = self._call_retrying_conflicts(ctx, step, record, scopes)
                except CallError as error:
                    if step.not_before and error.code in step.not_before.refused_with:
                        raise self._refused_too_soon(step, error, manifest, run) from None
                    raise
                scopes = {**scopes, "steps": run.outputs()}
            record.outputs = outputs
            if step.wait:
                wait_scopes: Outputs = {**scopes, "steps": {**scopes["steps"], step.id: outputs}}
                limit = step.wait.delay_seconds * step.wait.max_attempts
                self._tell("waiting", step, f"{step.wait.waiter} (up to {limit // 60} min)")
                wait(client, step.wait, resolve(step.wait.params, wait_scopes))
        except CallError as error:
            record.status, record.error = "failed", str(error)
            record.finished_at = self.clock()
            self._tell("failed", step, str(error))
            resume = f"re-run `reclaim {run.kind}`: it resumes at this step"
            raise AwsCallFailed(
                f"{manifest.plan_id}: step {step.id!r} ({step.call.label}) failed: {error}",
                hint=f"{step.failure_hint} If the cause can be fixed, {resume}"
                if step.failure_hint
                else f"fix the cause, then {resume}",
            ) from None
        except (PrecheckFailed, RetryLater) as error:
            record.status, record.error = "failed", error.message
            record.finished_at = self.clock()
            self._tell("failed", step, error.message)
            raise
        record.status, record.finished_at = "completed", self.clock()
        ctx.save()
        self._tell("finished", step, status)
        return StepOutcome(step.id, step.description, status, record.outputs)

    def _check_not_before(
        self,
        client: Any,
        step: Step,
        rule: NotBefore,
        scopes: Outputs,
        manifest: Manifest,
        run: RunRecord,
    ) -> None:
        response = invoke(client, rule.call.operation, resolve(rule.call.params, scopes))
        now = self.clock()
        if rule.ready_when is not None and not extract({"ok": rule.ready_when}, response)["ok"]:
            raise _retry_later(
                step,
                manifest,
                run,
                now,
                now + timedelta(seconds=rule.recheck_after_seconds),
                f"{rule.reason}; AWS gives no time for it, so reclaim looks again then",
            )
        if rule.time_path is None:
            return
        found = extract({"times": rule.time_path}, response)["times"]
        values = found if isinstance(found, list) else [found]
        times = [parse_time(value) for value in values if value is not None]
        if not times:
            return
        earliest = max(times) + timedelta(seconds=rule.delay_seconds)
        if now < earliest:
            raise _retry_later(step, manifest, run, now, earliest, rule.reason)

    def _refused_too_soon(
        self, step: Step, error: CallError, manifest: Manifest, run: RunRecord
    ) -> RetryLater:
        """AWS refused the call with a too-soon error the read could not foresee: wait until
        the time its message names (or, naming none, look again after the recheck delay)."""
        assert step.not_before is not None
        now = self.clock()
        named = time_in_message(error.message)
        if named is not None and named > now:
            return _retry_later(step, manifest, run, now, named, f"AWS refused it: {error}")
        recheck = now + timedelta(seconds=step.not_before.recheck_after_seconds)
        return _retry_later(
            step,
            manifest,
            run,
            now,
            recheck,
            f"AWS refused it and named no later time reclaim could read: {error}",
        )

    def _call_retrying_conflicts(
        self, ctx: _InProgress, step: Step, record: StepRecord, scopes: Outputs
    ) -> dict[str, JsonValue]:
        """The step's call; on its declared conflict error, re-read, re-check and retry with
        the fresh values (never the stale ones), up to the declared number of calls."""
        policy = step.on_conflict
        attempt = 1
        while True:
            try:
                params = resolve(step.call.params, scopes)
                return _call(ctx.client(step), step, params, ctx.manifest, scopes)
            except CallError as error:
                if policy is None or error.code != policy.error_code:
                    raise
                if attempt >= policy.max_attempts:
                    raise CallError(
                        error.code,
                        f"{error.message} (the resource kept changing: {attempt} attempts, each "
                        f"after re-reading it with step {policy.reread_step!r})",
                    ) from None
            attempt += 1
            self._reread(ctx, ctx.manifest.step(policy.reread_step), scopes)
            scopes = {**scopes, "steps": ctx.run.outputs()}
            record.request = resolve(step.call.params, scopes)
            record.note = f"{policy.error_code}: re-read {policy.reread_step!r}, attempt {attempt}"
            ctx.save()

    def _reread(self, ctx: _InProgress, step: Step, scopes: Outputs) -> None:
        """Run a completed read-only step again and replace its recorded outputs."""
        manifest = ctx.manifest
        params = resolve(step.call.params, scopes)
        record = ctx.run.record(step.id)
        assert record is not None, "validation guarantees the re-read step ran earlier"
        try:
            outputs = _call(ctx.client(step), step, params, manifest, scopes)
        except PrecheckFailed as error:
            # Keep what failed, not the generic "changed since the PR" opening line.
            _, _, what_failed = error.message.partition(":\n")
            raise PrecheckFailed(
                f"{manifest.plan_id}: someone changed the resource while reclaim was changing "
                f"it, and it no longer passes step {step.id!r}; reclaim did not overwrite "
                f"their change and changed nothing:\n" + (what_failed or error.message),
                hint=error.hint,
            ) from None
        record.request, record.outputs, record.finished_at = params, outputs, self.clock()
        record.note = "re-read after a conflict"
        ctx.save()


@dataclass
class _InProgress:
    """One apply or rollback under way: the folder its journal is saved to, the manifest it
    runs, and one client per service for the whole run."""

    folder: RemediationFolder
    journal: Journal
    run: RunRecord
    manifest: Manifest
    client_for: ClientFor
    clients: dict[str, Any] = field(default_factory=dict)
    code_request: dict[str, JsonValue] | None = None
    """What the code change's check said it will apply (set by the observation)."""

    def client(self, step: Step) -> Any:
        service = step.call.service
        if service not in self.clients:
            self.clients[service] = self.client_for(service, self.manifest.region)
        return self.clients[service]

    def save(self) -> None:
        self.folder.save_journal(self.journal)

    def scopes(self) -> Outputs:
        """What references resolve against: this run's outputs, the apply's (for a
        rollback), and the journal's facts about the apply run."""
        applied = self.journal.apply
        scopes: dict[str, Any] = {"steps": self.run.outputs()}
        if applied is not None and applied is not self.run:
            scopes["apply"] = applied.outputs()
        if applied is not None and applied.observed_at is not None:
            observed = applied.observed_at
            scopes["run"] = {
                "apply": {
                    "observed_at": observed.isoformat(),
                    "observed_at_ms": int(observed.timestamp() * 1000),
                }
            }
        return scopes


def _require_backups(manifest: Manifest, run: RunRecord, step: Step) -> None:
    for backup in (s for s in manifest.steps if s.phase == "backup"):
        record = run.record(backup.id)
        if record is None or record.status != "completed":
            raise AwsCallFailed(
                f"refusing step {step.id!r}: backup step {backup.id!r} has not completed"
            )


def _lookup(
    client: Any, step: Step, scopes: Outputs, run: RunRecord | None
) -> dict[str, JsonValue] | None:
    """The step's outputs if AWS shows it already happened, else None. With ``created_at``,
    what the lookup found counts only if it was created after the apply observed the
    resource (``run`` None: no such limit, for a finished apply)."""
    lookup = step.already_done
    if lookup is None:
        return None
    try:
        response = invoke_all(client, lookup.call.operation, resolve(lookup.call.params, scopes))
    except CallError as error:
        if lookup.found_on_error and error.code == lookup.found_on_error:
            return {}
        if lookup.not_done_on_error and error.code == lookup.not_done_on_error:
            return None
        raise
    if not (
        lookup.found_when and _truthy(extract({"found": lookup.found_when}, response)["found"])
    ):
        return None
    if lookup.created_at is not None and run is not None:
        since = scopes.get("run", {}).get("apply", {}).get("observed_at")
        created = extract({"created": lookup.created_at}, response)["created"]
        if since is None or not at_or_after(created, since):
            return None
    return extract(lookup.outputs, response)


def _call(
    client: Any, step: Step, params: dict[str, Any], manifest: Manifest, scopes: Outputs
) -> dict[str, JsonValue]:
    try:
        response = invoke(client, step.call.operation, params)
    except CallError as error:
        if step.expect_error and error.code == step.expect_error:
            return {}
        if step.phase == "precheck":
            raise PrecheckFailed(
                f"{manifest.plan_id}: pre-check {step.id!r} could not read the resource "
                f"({error}); nothing was changed",
                hint=step.failure_hint
                or "if the resource was deleted or changed by someone else, close the PR",
            ) from None
        raise
    if step.expect_error and step.phase == "precheck":
        raise PrecheckFailed(
            f"{manifest.plan_id}: pre-check {step.id!r} expected {step.expect_error} from "
            f"{step.call.label}, but the call succeeded ({step.description}); nothing was "
            "changed",
            hint=step.failure_hint or "check the resource and journal.json's history in git",
        )
    if step.expect_error:
        raise CallError(
            "UnexpectedSuccess",
            f"expected {step.expect_error} but the call succeeded"
            + (" (DryRun was not honoured)" if step.phase == "dry_run" else ""),
        )
    expectations = tuple(
        e.model_copy(update={"equals": resolve(e.equals, scopes)}) for e in step.expect
    )
    failures = unmet(expectations, response)
    if failures and step.phase == "precheck":
        raise PrecheckFailed(
            f"{manifest.plan_id}: the resource changed since the PR was opened; nothing "
            "was changed:\n  " + "\n  ".join(failures),
            hint=step.failure_hint
            or "close this PR; the next scan proposes again if it is still idle",
        )
    if failures:
        raise CallError(f"{step.phase}Failed", "; ".join(failures))
    return extract(step.outputs, response)


def _truthy(value: JsonValue) -> bool:
    return value not in (None, False, 0, "", [], {})


def _stopped_before_the_change(plan: Plan, applied: RunRecord) -> StateRefusal:
    """Rollback of an apply that changed nothing: say why it stopped and what it left (a
    backup it made is kept, and keeps costing, whatever happens to the PR)."""
    why = applied.error or "the process stopped before it finished"
    made, started = [], []
    for step in plan.steps:
        record = applied.record(step.id) if step.phase == "backup" else None
        if record is not None and record.status == "completed":
            outputs = ", ".join(f"{key} {value}" for key, value in record.outputs.items())
            made.append(f"{step.id} ({outputs})" if outputs else step.id)
        elif record is not None and record.status == "started":
            started.append(step.id)
    left = "; it made no backup"
    if made:
        left = f"; the backup it made is kept: {'; '.join(made)}"
    elif started:
        left = (
            f"; its {', '.join(started)} step had started, so a backup tagged with the plan ID "
            "may exist (re-running apply finds and uses it)"
        )
    hint = "re-run `reclaim apply` to finish it"
    hint += (
        ", or, if you close the PR instead, delete the backup (it is billed until then)"
        if made or started
        else ", or close the PR"
    )
    return StateRefusal(
        f"{plan.plan_id}: apply stopped before changing anything ({why}), so there is "
        f"nothing to roll back{left}",
        hint=hint,
    )


def _retry_later(
    step: Step, manifest: Manifest, run: RunRecord, now: datetime, earliest: datetime, why: str
) -> RetryLater:
    wait_for = max(earliest - now, timedelta())
    hours, minutes = divmod(int(wait_for.total_seconds()) // 60 + 1, 60)
    return RetryLater(
        f"{manifest.plan_id}: step {step.id!r} ({step.call.label}) cannot run before "
        f"{earliest:%Y-%m-%d %H:%M} UTC (in {hours} h {minutes:02d} min): "
        f"{why}. Nothing was changed by this step.",
        not_before=earliest,
        hint=f"re-run `reclaim {run.kind}` after {earliest:%Y-%m-%d %H:%M} UTC; "
        "journal.json keeps the run pending and it resumes at this step",
    )


def run_prechecks(plan: Plan, client_for: ClientFor) -> int:
    """The plan's pre-checks exactly as apply runs them, and nothing else: read-only calls
    whose expectations must hold (PrecheckFailed when one does not). For checks made without
    a run (an open PR's freshness): nothing is journaled. Returns how many ran."""
    outputs: dict[str, dict[str, JsonValue]] = {}
    clients: dict[str, Any] = {}
    for step in plan.steps:
        if step.phase != "precheck" or step.mutates:
            continue
        service = step.call.service
        if service not in clients:
            clients[service] = client_for(service, plan.region)
        scopes: Outputs = {"steps": outputs}
        outputs[step.id] = _call(
            clients[service], step, resolve(step.call.params, scopes), plan, scopes
        )
    return len(outputs)
