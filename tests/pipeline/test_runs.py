"""Which folders a workflow step acts on, and how outcomes are kept."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from generator.config import parse_config
from generator.errors import ConfigError, StateRefusal
from generator.executor.runner import RunResult
from generator.pipeline.ci_commands import rollback_requested
from generator.pipeline.events import PushEvent
from generator.pipeline.runs import RunResults, pending_folders, run_all
from generator.planner import plan_finding, write_remediation
from tests.factories import volume_finding
from tests.pipeline.test_gitops import commit_file, make_origin, sh
from tests.pipeline.webhooks import push


def test_a_push_to_another_branch_applies_nothing(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    commit_file(repo, "remediations/a/plan.json")
    event = PushEvent.model_validate(
        push(repository="acme/cost", before="0" * 40, after="1" * 40, branch="feature")
    )
    assert pending_folders(repo, event, "remediations") == []
    on_main = PushEvent.model_validate(
        push(repository="acme/cost", before="0" * 40, after="1" * 40)
    )
    assert pending_folders(repo, on_main, "remediations") == ["remediations/a"]


class FakeExecutor:
    def __init__(self, fail: set[str]) -> None:
        self.fail = fail

    def apply(self, path: Path) -> RunResult:
        if path.name in self.fail:
            raise StateRefusal(f"{path.name} refused", hint="do something")
        return RunResult(plan_id=path.name, kind="apply", steps=[])


def genuine_folders(repo: Path, volumes: list[str]) -> list[str]:
    folders = []
    for volume in volumes:
        folder = write_remediation(
            plan_finding(volume_finding(volume_id=volume)), repo / "remediations"
        )
        sh(repo, "add", ".")
        sh(repo, "commit", "-q", "-m", f"merge {volume}")
        folders.append(f"remediations/{folder.name}")
    return folders


def test_one_failure_does_not_stop_the_others_and_every_outcome_is_saved(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    a, b, c = genuine_folders(repo, [f"vol-00000000000000{n}" for n in ("0a", "0b", "0c")])
    results_path = tmp_path / "results.json"
    results = run_all(
        repo,
        [a, b, c],
        "apply",
        lambda _path, _kind: FakeExecutor({Path(b).name}),  # type: ignore[arg-type,return-value]
        results_path,
    )
    assert [o.status for o in results.outcomes] == ["completed", "failed", "completed"]
    assert results.outcomes[1].message == f"{Path(b).name} refused (hint: do something)"
    assert results.outcomes[0].commit is not None
    assert RunResults.load(results_path) == results
    assert RunResults.load(tmp_path / "missing.json").outcomes == []


def test_malformed_folders_are_invalid_before_the_executor_and_the_others_run(
    tmp_path: Path,
) -> None:
    _origin, repo = make_origin(tmp_path)
    (good,) = genuine_folders(repo, ["vol-000000000000000aa"])
    (renamed,) = genuine_folders(repo, ["vol-000000000000000bb"])
    moved = "remediations/ebs-unattached-999999999999-us-east-1-vol-000000000000000bb"
    sh(repo, "mv", renamed, moved)
    commit_file(repo, "remediations/not-an-id/plan.json", '{"plan_id": "\xff"}')
    (repo / "remediations/bad-utf8").mkdir()
    (repo / "remediations/bad-utf8/plan.json").write_bytes(b'{"plan_id": "\xff\xfe"}')
    (no_rollback,) = genuine_folders(repo, ["vol-000000000000000cc"])
    (repo / no_rollback / "rollback.json").unlink()
    built: list[str] = []

    def executor_for(path: Path, _kind: str) -> FakeExecutor:
        built.append(path.name)
        return FakeExecutor(set())

    folders = [good, moved, "remediations/not-an-id", "remediations/bad-utf8", no_rollback]
    results = run_all(repo, folders, "apply", executor_for, tmp_path / "r.json")  # type: ignore[arg-type]
    status = {o.folder: o.status for o in results.outcomes}
    assert status == {good: "completed", **{f: "invalid" for f in folders[1:]}}
    assert built == [Path(good).name]  # no executor (no role chain, no AWS) for the others
    message = {o.folder: o.message for o in results.outcomes}
    assert "folder name is 'ebs-unattached-999999999999-" in message[moved]
    assert "UTF-8" in message["remediations/bad-utf8"]
    assert "rollback.json does not exist" in message[no_rollback]
    assert len(results.failed) == 4  # invalid counts as failed for the exit code


@pytest.mark.parametrize(
    "folder", ["remediations/../secrets", "other/x", "remediations/a/b", "remediations/"]
)
def test_rollback_takes_only_a_folder_directly_under_remediations(
    tmp_path: Path, folder: str
) -> None:
    config = parse_config({}, source="reclaim.yml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="is not a folder directly under remediations/"):
        rollback_requested(
            config,
            folder,
            1,
            tmp_path / "r.json",
            lambda _p, _k: None,  # type: ignore[arg-type,return-value]
            repo=tmp_path,
            out=Console(file=open(tmp_path / "o", "w")),  # noqa: SIM115
        )


def test_a_plan_for_an_account_not_in_reclaim_yml_is_invalid_before_any_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.cli import _workflow_executor_for

    _origin, repo = make_origin(tmp_path)
    (folder,) = genuine_folders(repo, ["vol-000000000000000dd"])  # account 123456789012
    config = repo / "reclaim.yml"
    config.write_text(
        "version: 1\naccounts:\n  - name: dev\n    id: '222222222222'\n"
        "    role_arn: arn:aws:iam::222222222222:role/reclaim-remediation\n"
    )
    # Any AWS call would go nowhere: the refusal must come first.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    results = run_all(
        repo, [folder], "apply", _workflow_executor_for(config, "alice"), tmp_path / "r.json"
    )
    (outcome,) = results.outcomes
    assert outcome.status == "invalid"
    assert "account 123456789012, which is not in the configuration" in outcome.message
    assert outcome.commit is not None  # its PR hears why


def apply_merged_here(repo: Path, event: PushEvent, tmp_path: Path, out: io.StringIO) -> RunResults:
    """apply-merged's own path (pending folders, refusals, run_all, printing)."""
    from generator.pipeline.ci_commands import apply_merged

    event_path = tmp_path / "event.json"
    event_path.write_text(event.model_dump_json())
    config = parse_config({}, source="reclaim.yml", base_dir=repo)
    return apply_merged(
        config,
        event_path,
        tmp_path / "r.json",
        lambda _path, _kind: FakeExecutor(set()),  # type: ignore[arg-type,return-value]
        repo=repo,
        out=Console(file=out, width=200),
    )


def test_a_folder_name_that_is_not_utf8_is_reported_not_a_traceback(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    before = sh(repo, "rev-parse", "HEAD")
    (good,) = genuine_folders(repo, ["vol-000000000000000ee"])
    for name in (b"ebs-unattached-\xff", b"ebs-unattached-\xfe"):
        bad = repo / "remediations" / os.fsdecode(name)
        bad.mkdir()
        (bad / "plan.json").write_text("{}\n")
    (bad / "journal.json").write_text("{}\n")  # one also brings a journal
    sh(repo, "add", "-A")
    sh(repo, "commit", "-q", "-m", "odd name")
    event = PushEvent.model_validate(
        push(repository="acme/cost", before=before, after=sh(repo, "rev-parse", "HEAD"))
    )
    out = io.StringIO()
    results = apply_merged_here(repo, event, tmp_path, out)
    status = {o.folder: o.status for o in results.outcomes}
    assert status[good] == "completed"
    odd = [o for o in results.outcomes if o.folder != good]
    assert sorted(o.folder for o in odd) == [
        "remediations/ebs-unattached-\\xfe",
        "remediations/ebs-unattached-\\xff",
    ]
    for outcome in odd:
        assert outcome.status == "invalid" and "not valid UTF-8" in outcome.message
    # the results file reads back, for the comment step
    assert RunResults.load(tmp_path / "r.json") == results
    assert "invalid" in out.getvalue()
