"""Which folders a workflow step acts on, and how outcomes are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from generator.config import parse_config
from generator.errors import ConfigError, StateRefusal
from generator.executor.runner import RunResult
from generator.pipeline.ci_commands import rollback_requested
from generator.pipeline.events import PushEvent
from generator.pipeline.runs import RunResults, pending_folders, run_all
from tests.pipeline.test_gitops import commit_file, make_origin
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


def test_one_failure_does_not_stop_the_others_and_every_outcome_is_saved(tmp_path: Path) -> None:
    _origin, repo = make_origin(tmp_path)
    for name in ("a", "b", "c"):
        commit_file(repo, f"remediations/{name}/plan.json")
    results_path = tmp_path / "results.json"
    results = run_all(
        repo,
        ["remediations/a", "remediations/b", "remediations/c"],
        "apply",
        lambda _path, _kind: FakeExecutor({"b"}),  # type: ignore[arg-type,return-value]
        results_path,
    )
    assert [o.status for o in results.outcomes] == ["completed", "failed", "completed"]
    assert results.outcomes[1].message == "b refused (hint: do something)"
    assert results.outcomes[0].commit is not None
    assert RunResults.load(results_path) == results
    assert RunResults.load(tmp_path / "missing.json").outcomes == []


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
