"""The generated scan workflow run as GitHub would schedule it: a clock job, a matrix of shard
jobs on fresh checkouts passing artifacts to one propose job, against moto and the GitHub
stand-in. Each job gets the runner's clock of the simulated day."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.pipeline.spec import Fleet, PipelineOptions
from generator.rules import RULES
from generator.state import FirstSeen, load_clocks
from tests.github_standin.server import Exchange, GitHubStandIn
from tests.pipeline.harness import JobRun, run_job
from tests.pipeline.scenario import REPOSITORY, TOKEN, Pipeline, git, init_pipeline

REGIONS = ("us-east-1", "eu-west-1")
SHARDS = 3
CRON = "17 5 * * 1"
STATE = ".reclaim/state.json"


@dataclass
class ScanRun:
    clock: JobRun
    shards: dict[int, JobRun]
    savings: JobRun
    propose: JobRun
    fresh: JobRun
    api_writes: list[Exchange]
    main_before: str
    main_after: str
    run_id: str

    def failures(self) -> list[tuple[str, str, int, str, str]]:
        """(job, step, exit code, stdout tail, stderr tail) of every failed step."""
        jobs = {
            "clock": self.clock,
            "savings": self.savings,
            "propose": self.propose,
            "fresh": self.fresh,
        }
        jobs.update({f"scan {i}": run for i, run in self.shards.items()})
        return [
            (name, step.name, step.returncode, step.stdout[-1500:], step.stderr[-1500:])
            for name, run in jobs.items()
            for step in run.steps
            if step.returncode != 0
        ]


def make_scan_pipeline(tmp_path: Path, standin: GitHubStandIn, moto_url: str) -> Pipeline:
    """A repository whose reclaim.yml scans one account in two regions for unattached
    volumes (CloudTrail off: the first-seen clock decides) and unassociated addresses."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(standin.git.path), str(work))
    rules = {name: {"enabled": False} for name in RULES}
    rules["ebs-unattached"] = {"use_cloudtrail": False}
    rules["eip-unassociated"] = {}
    (work / "reclaim.yml").write_text(
        json.dumps(
            {
                "version": 1,
                "accounts": [{"name": "prod"}],
                "regions": list(REGIONS),
                "rules": rules,
                "forge": {
                    "type": "github",
                    "repository": REPOSITORY,
                    "api_url": standin.api_url,
                    "dashboard": False,
                    # moto has neither recommender and answers 500, which botocore retries
                    # for a minute; tests/test_recommenders.py covers the second opinion
                    "second_opinion": False,
                },
            },
            indent=2,
        )
    )
    options = PipelineOptions(
        repository=REPOSITORY, service_account_id="111111111111", scan_shards=SHARDS, scan_cron=CRON
    )
    fleet = Fleet(
        accounts=(),
        regions=REGIONS,
        enabled_rules=("ebs-unattached", "eip-unassociated"),
        skip_tag="reclaim:skip",
        remediations_dir="remediations",
    )
    return init_pipeline(tmp_path, standin, work, moto_url, options, fleet)


def committed_clocks(pipeline: Pipeline) -> FirstSeen:
    text = pipeline.origin_file(STATE)
    if text is None:
        return {}
    path = pipeline.root / "committed-state.json"
    path.write_text(text)
    return load_clocks(path)


def scheduled_scan(
    pipeline: Pipeline,
    at: datetime,
    *,
    lost_shards: tuple[int, ...] = (),
    before_fresh: Callable[[], None] | None = None,
) -> ScanRun:
    """One scheduled run of reclaim-scan.yml on the runners' day ``at``. A lost shard's job
    never reports (its runner died before uploading). ``before_fresh`` happens between the
    propose job and the job that re-checks the open PRs (someone changes a resource)."""
    workflow = pipeline.workflows["reclaim-scan"]
    pipeline.runs += 1
    run_id = f"{7000 + pipeline.runs}"
    store = pipeline.root / f"artifacts-{run_id}"
    store.mkdir()
    main_before = pipeline.main_sha()
    mark = pipeline.standin.mark()
    payload = {"schedule": CRON}

    def job(name: str, **given: Any) -> JobRun:
        return run_job(
            workflow,
            name,
            workdir=pipeline.checkout(),
            event_path=pipeline.event(payload),
            github={
                "event_name": "schedule",
                "event": payload,
                "repository": REPOSITORY,
                "actor": "alice",
                "run_id": run_id,
                "sha": main_before,
                "ref": "refs/heads/main",
                "token": TOKEN,
            },
            secrets={"RECLAIM_GITHUB_TOKEN": TOKEN},
            aws_env=pipeline.aws_env,
            extra_env={
                "GITHUB_API_URL": pipeline.standin.api_url,
                "GITHUB_SERVER_URL": pipeline.standin.web,
            },
            artifacts=store,
            now=at,
            **given,
        )

    clock = job("clock")
    needs = {"clock": {"outputs": clock.outputs, "result": "success"}}
    shards = {
        index: job("scan", matrix={"shard": index}, needs=needs)
        for index in workflow["jobs"]["scan"]["strategy"]["matrix"]["shard"]
        if index not in lost_shards
    }
    savings = job("savings", needs={**needs, "scan": {"outputs": {}}})
    propose = job("propose", needs={"scan": {"outputs": {}}, "savings": {"outputs": {}}})
    if before_fresh is not None:
        before_fresh()
    fresh = job("fresh", needs={**needs, "propose": {"outputs": {}, "result": "success"}})
    return ScanRun(
        clock=clock,
        shards=shards,
        savings=savings,
        propose=propose,
        fresh=fresh,
        api_writes=[e for e in pipeline.standin.since(mark) if e.method not in ("GET", "HEAD")],
        main_before=main_before,
        main_after=pipeline.main_sha(),
        run_id=run_id,
    )
