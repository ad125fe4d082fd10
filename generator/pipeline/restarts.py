"""Stopped databases that AWS started again: stop them again, on the same pull request.

AWS starts a stopped RDS DB instance or Aurora cluster by itself after 7 days. While the
finding still holds, the scheduled run stops it again, records the run in the folder's
journal (``follow_ups``) and comments on the merged pull request; it never opens a new one.

What it believes, and why (every byte of a pull request is untrusted):

- only folders of the checked-out default branch, whose plan.json came onto it by a merge
  (first-parent history) and passes every folder check;
- only journals reclaim's own runs wrote: one that arrived in the same commit as its plan was
  written by the branch's author, and is refused (as apply-merged refuses it); the journal
  must say the apply completed and nothing was rolled back, and match plan.json's digest;
- only live AWS for the rest: the resource is ``available`` again *because AWS started it*
  (its RDS event says the maximum stopped time was exceeded: a person who started it on
  purpose is not overruled), the default branch's skip tag and exclusions do not cover it, its
  rule is enabled, and nobody connected since it was started (at most the rule's
  ``max_daily_connections``, with CloudWatch data to show it). Then the plan's own reviewed
  pre-checks, stop and verification run again (`Executor.repeat_change`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from generator.aws.metrics import MetricQuery, MetricWindow, fetch_metrics
from generator.aws.tags import tags_from_api
from generator.config import ReclaimConfig
from generator.errors import ReclaimError
from generator.executor.runner import Executor
from generator.folder_checks import load_checked
from generator.manifest.folder import JOURNAL_FILE, RemediationFolder, digest
from generator.manifest.models import Plan
from generator.pipeline.gitops import adding_commit, git

AUTO_START_MESSAGE = "exceeding the maximum allowed time being stopped"
"""What RDS's event says when it starts a DB instance or cluster stopped for 7 days
(RDS-EVENT-0154 for instances, RDS-EVENT-0153 for clusters)."""

RESTARTABLE = {"rds-idle": "db-instance", "aurora-idle": "db-cluster"}
"""Rules whose change AWS undoes after 7 days → the RDS event source type of their resource."""

HOUR = 3600


@dataclass(frozen=True)
class Candidate:
    folder: str
    plan: Plan
    commit: str
    """The merge that brought the plan onto the default branch (its pull request's)."""
    stopped_at: datetime


@dataclass(frozen=True)
class FollowUp:
    folder: str
    status: Literal["stopped again", "left alone", "failed"]
    message: str
    commit: str | None = None


class FollowUpForge(Protocol):
    def comment_follow_up(self, finding_id: str, commit_sha: str, kind: str, text: str) -> str:
        """Post (or update) the comment of ``kind`` on the pull request merged as ``commit``."""
        ...


ClientFor = Callable[[Plan], Callable[[str], Any]]
"""A plan → a client factory in its account and region (the apply's role chain)."""


def _journal_commit(repo: Path, folder: str) -> str | None:
    sha = git(
        repo,
        "log",
        "--first-parent",
        "--diff-filter=A",
        "--format=%H",
        "-1",
        "--",
        f":(literal){folder}/{JOURNAL_FILE}",
    )
    return sha.strip() or None


def candidates(repo: Path, remediations_dir: str) -> tuple[list[Candidate], list[FollowUp]]:
    """Applied, never rolled back plans of restartable rules on the default branch; and the
    folders refused on the way, with why."""
    found: list[Candidate] = []
    refused: list[FollowUp] = []
    root = repo / remediations_dir
    for plan_path in sorted(root.glob("*/plan.json")) if root.is_dir() else []:
        folder = f"{remediations_dir}/{plan_path.parent.name}"
        path = plan_path.parent
        if not (path / JOURNAL_FILE).exists():
            continue
        try:
            plan, _rollback = load_checked(path)
            if plan.rule not in RESTARTABLE:
                continue
            remediation = RemediationFolder(path)
            journal = remediation.load_journal()
        except ReclaimError as error:
            refused.append(FollowUp(folder, "failed", f"not a valid folder: {error.message}"))
            continue
        if journal is None or journal.plan_sha256 != digest(remediation.plan_text()):
            refused.append(FollowUp(folder, "failed", "journal.json belongs to another plan"))
            continue
        applied = journal.apply
        if applied is None or applied.status != "completed" or journal.rollback is not None:
            continue
        commit = adding_commit(repo, folder)
        if commit is None:
            continue
        if _journal_commit(repo, folder) in (None, commit):
            refused.append(
                FollowUp(
                    folder,
                    "failed",
                    "journal.json arrived with its plan: it was not written by reclaim's apply, "
                    "so nothing is stopped again",
                    commit,
                )
            )
            continue
        stop = applied.record("stop")
        stopped_at = (stop.finished_at if stop else None) or applied.finished_at
        assert stopped_at is not None  # a completed run records when it finished
        last = [
            r.finished_at for r in journal.follow_ups if r.finished_at and r.status == "completed"
        ]
        found.append(Candidate(folder, plan, commit, max([stopped_at, *last])))
    return found, refused


# ---- live AWS: did AWS start it, and is it still idle -------------------------------------


def _resource(plan: Plan) -> dict[str, Any]:
    resource: dict[str, Any] = plan.finding.resource
    return resource


def _members(plan: Plan) -> tuple[str, list[str]]:
    """The resource ID and the instances whose connections count."""
    resource = _resource(plan)
    if plan.rule == "rds-idle":
        name = resource["instance"]["db_instance_id"]
        return name, [name]
    cluster = resource["cluster"]
    return cluster["cluster_id"], [m["db_instance_id"] for m in cluster["members"]]


def _live(rds: Any, plan: Plan, name: str) -> tuple[str, dict[str, str]]:
    """Status and tags, as AWS has them now."""
    if plan.rule == "rds-idle":
        item = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        return item["DBInstanceStatus"], tags_from_api(item.get("TagList"))
    item = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return item["Status"], tags_from_api(item.get("TagList"))


def why_not_again(
    candidate: Candidate, config: ReclaimConfig, client: Callable[[str], Any], now: datetime
) -> str | None:
    """None when AWS started the resource again itself and it stayed idle since; else why
    it is left alone."""
    plan = candidate.plan
    settings = config.rule_settings(plan.rule)
    if not settings.enabled:
        return f"rule {plan.rule} is disabled in reclaim.yml"
    name, members = _members(plan)
    rds = client("rds")
    status, tags = _live(rds, plan, name)
    if status in ("stopped", "stopping"):
        return f"still {status}: nothing to do"
    if status != "available":
        return f"status {status}: looked at again by the next run"
    excluded = config.exclusions.reason_to_skip(name, tags)
    if excluded:
        return f"{excluded}: left running"
    pages = rds.get_paginator("describe_events").paginate(
        SourceIdentifier=name,
        SourceType=RESTARTABLE[plan.rule],
        StartTime=candidate.stopped_at,
        EndTime=now,
    )
    started = [
        event["Date"]
        for page in pages
        for event in page.get("Events", [])
        if AUTO_START_MESSAGE in event.get("Message", "")
    ]
    if not started:
        return (
            "running again, but not because AWS started it (no RDS event says the maximum "
            "stopped time was exceeded): someone started it, so reclaim leaves it running"
        )
    since = max(started)
    limit = getattr(settings, "max_daily_connections", 0)
    window = MetricWindow(since - timedelta(seconds=HOUR), now, HOUR)
    series = fetch_metrics(
        client("cloudwatch"),
        window,
        [
            MetricQuery(
                member,
                "AWS/RDS",
                "DatabaseConnections",
                (("DBInstanceIdentifier", member),),
                "Maximum",
            )
            for member in members
        ],
    )
    for member in members:
        peak = series[member].maximum()
        if peak is None:
            return f"{member}: no DatabaseConnections data since AWS started it; not judged"
        if peak > limit:
            return f"{member}: {peak:g} connections since AWS started it: no longer idle"
    return None


# ---- one scheduled run ------------------------------------------------------------------


def stop_again(
    repo: Path,
    remediations_dir: str,
    config: ReclaimConfig,
    *,
    client_for: ClientFor,
    executor_for: Callable[[Plan], Executor],
    forge: FollowUpForge | None,
    now: datetime,
) -> list[FollowUp]:
    """Stop again every restartable plan AWS started again while it stayed idle; comment on
    its pull request. One failing folder never stops the others."""
    found, results = candidates(repo, remediations_dir)
    for candidate in found:
        try:
            reason = why_not_again(candidate, config, client_for(candidate.plan), now)
            if reason is not None:
                results.append(FollowUp(candidate.folder, "left alone", reason, candidate.commit))
                continue
            executor_for(candidate.plan).repeat_change(repo / candidate.folder)
        except ReclaimError as error:
            outcome = FollowUp(candidate.folder, "failed", error.message, candidate.commit)
        except Exception as error:  # an AWS answer the check did not expect: this folder only
            outcome = FollowUp(candidate.folder, "failed", f"{type(error).__name__}: {error}")
        else:
            outcome = FollowUp(
                candidate.folder,
                "stopped again",
                "AWS started it after 7 days stopped; nobody connected since, so reclaim "
                "stopped it again (journal.json, follow_ups)",
                candidate.commit,
            )
        results.append(outcome)
        if forge is not None and outcome.status != "left alone":
            _comment(forge, candidate, outcome, now)
    return results


def _comment(forge: FollowUpForge, candidate: Candidate, outcome: FollowUp, now: datetime) -> None:
    plan = candidate.plan
    name, _ = _members(plan)
    if outcome.status == "stopped again":
        text = (
            f"**Stopped again.** AWS started `{name}` by itself after 7 days stopped. Nobody "
            f"connected to it since, so reclaim ran this plan's pre-checks, stop and "
            f"verification again on {now:%Y-%m-%d %H:%M} UTC (recorded in the journal). "
            "Add the skip tag to keep it running, or comment `/rollback` to start it for good."
        )
    else:
        text = f"**Stopping `{name}` again failed:** {outcome.message}"
    forge.comment_follow_up(plan.plan_id, candidate.commit, f"restop-{now:%Y%m%d}", text)
