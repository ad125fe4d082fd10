"""Result comments after apply/rollback, credentials (token, GitHub App), GitHub Enterprise,
and the `comment-result` command, all against the stand-in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth

from generator.cli import main
from generator.config import GitHubAppConfig
from generator.errors import ConfigError, ExitCode, ForgeError
from generator.forge import throttle
from generator.forge.base import RunState, branch_for
from generator.forge.github_auth import github_auth
from generator.forge.result import result_comment
from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import Journal, RunRecord, StepRecord
from generator.planner import plan_finding, write_remediation
from generator.propose import sync_proposals
from tests.github.conftest import ForgeFactory
from tests.github.helpers import FakeTime, finding, report
from tests.github_standin.server import GitHubStandIn

FOLDER = "remediations"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def applied_folder(tmp_path: Path, item_number: int = 1) -> RemediationFolder:
    item = finding(item_number)
    folder = RemediationFolder(write_remediation(plan_finding(item), tmp_path / FOLDER))
    plan = folder.load_plan()
    steps = [
        StepRecord(
            step_id=step.id,
            status="completed",
            started_at=T0,
            finished_at=T0,
            outputs={"SnapshotId": "snap-0abc"} if step.id == "backup" else {},
        )
        for step in plan.steps
    ]
    folder.save_journal(
        Journal(
            plan_id=plan.plan_id,
            plan_sha256=digest(folder.plan_text()),
            rollback_sha256=digest(folder.rollback_text()),
            apply=RunRecord(
                kind="apply",
                status="completed",
                started_at=T0,
                finished_at=T0,
                actor="alice",
                steps=steps,
            ),
        )
    )
    return folder


def add_rollback(folder: RemediationFolder) -> None:
    journal = folder.load_journal()
    assert journal is not None
    steps = [
        StepRecord(
            step_id=step.id,
            status="completed",
            started_at=T0,
            outputs={"VolumeId": "vol-0restored"} if step.mutates else {},
        )
        for step in folder.load_rollback().steps
    ]
    journal.rollback = RunRecord(
        kind="rollback", status="completed", started_at=T0, finished_at=T0, steps=steps
    )
    folder.save_journal(journal)


def merged_pr(standin: GitHubStandIn, make_forge: ForgeFactory, item_number: int = 1) -> str:
    item = finding(item_number)
    sync_proposals(report(item), make_forge(), FOLDER)
    (pull,) = standin.pull_by_head(branch_for(item.id))
    return standin.human_merge(pull.number)


def test_result_comment_found_through_the_merge_commit_then_updated_by_rollback(
    standin: GitHubStandIn, make_forge: ForgeFactory, tmp_path: Path
):
    item = finding(1)
    merge_sha = merged_pr(standin, make_forge)
    folder = applied_folder(tmp_path)
    number = standin.pull_by_head(branch_for(item.id))[0].number

    url = make_forge().comment_result(item.id, merge_sha, result_comment(folder))

    (comment,) = standin.comments_on(number)
    assert url.endswith(f"#issuecomment-{comment.cid}")
    assert comment.body.startswith("<!-- reclaim:result -->")
    assert "Realized savings: $8.00/month" in comment.body
    assert "`snap-0abc`" in comment.body and "/rollback" in comment.body
    assert "approved by @alice" in comment.body
    assert "reclaim:applied" in standin.pulls[number].labels

    # The dashboard counts its promise once applied (what it saved is measured on the bill).
    after = sync_proposals(report(), make_forge(), FOLDER)
    assert after.stopped is None
    dashboard = standin.issues[max(standin.issues)].body or ""
    assert "Promised by applied changes (1 applied and not rolled back) | **$8.00**" in dashboard

    add_rollback(folder)
    make_forge().comment_result(item.id, merge_sha, result_comment(folder))

    (comment,) = standin.comments_on(number)  # updated in place, never stacked
    assert comment.body.startswith("<!-- reclaim:result -->")
    assert "Rolled back" in comment.body and "`vol-0restored`" in comment.body
    assert "Nothing left to undo" in comment.body
    labels = standin.pulls[number].labels
    assert "reclaim:rolled-back" in labels and "reclaim:applied" not in labels


def test_result_comment_for_a_commit_of_no_reclaim_pr_is_a_clear_error(
    standin: GitHubStandIn, make_forge: ForgeFactory, tmp_path: Path
):
    merged_pr(standin, make_forge)
    folder = applied_folder(tmp_path)
    initial = standin.git.git("rev-list", "--max-parents=0", "refs/heads/main")

    with pytest.raises(ForgeError, match="no pull request from reclaim/") as caught:
        make_forge().comment_result(finding(1).id, initial, result_comment(folder))
    assert caught.value.hint and "merge commit" in caught.value.hint


def test_comment_result_command_posts_through_the_configured_forge(
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
):
    merge_sha = merged_pr(standin, make_forge)
    folder = applied_folder(tmp_path)
    config = tmp_path / "reclaim.yml"
    config.write_text(
        "version: 1\nforge:\n  type: github\n  repository: acme/infra\n"
        f"  api_url: {standin.api_url}\n"
    )
    monkeypatch.setenv("RECLAIM_GITHUB_TOKEN", "test-token")
    monkeypatch.setattr(throttle, "_sleep", fake_time.sleep)  # the CLI builds its own pacer

    result = CliRunner().invoke(
        main, ["comment-result", str(folder.path), "--config", str(config), "--commit", merge_sha]
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("applied: http://127.0.0.1:")
    (comment,) = standin.comments_on(standin.pulls[1].number)
    assert "Realized savings" in comment.body

    by_number = CliRunner().invoke(
        main, ["comment-result", str(folder.path), "--config", str(config), "--pr", "1"]
    )
    assert by_number.exit_code == 0, by_number.output
    assert len(standin.comments_on(1)) == 1

    other = CliRunner().invoke(
        main,
        [
            "comment-result",
            str(applied_folder(tmp_path, 2).path),
            "--config",
            str(config),
            "--pr",
            "1",
        ],
    )
    assert other.exit_code == ExitCode.FORGE and "not from 'reclaim/" in other.output

    neither = CliRunner().invoke(
        main, ["comment-result", str(folder.path), "--config", str(config)]
    )
    assert neither.exit_code == ExitCode.USAGE
    assert "exactly one of --commit" in neither.output


def test_comment_result_without_a_journal_says_to_apply_first(tmp_path: Path):
    folder = write_remediation(plan_finding(finding(1)), tmp_path / FOLDER)

    result = CliRunner().invoke(main, ["comment-result", str(folder), "--pr", "1"])

    assert result.exit_code == ExitCode.STATE
    assert "no journal.json" in result.output and "reclaim apply" in result.output


# ---- credentials --------------------------------------------------------------------------


def _app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_a_github_app_installation_token_opens_the_prs(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    private, public = _app_key()
    standin.register_app(app_id=4321, public_key_pem=public, installation_id=99)
    auth = github_auth(
        GitHubAppConfig(app_id=4321, installation_id=99),
        env={"RECLAIM_GITHUB_APP_PRIVATE_KEY": private, "GITHUB_TOKEN": "ignored"},
    )

    outcome = sync_proposals(report(finding(1)), make_forge(auth=auth), FOLDER)

    assert outcome.stopped is None
    (pull,) = standin.pulls.values()
    assert pull.author == "reclaim-app[bot]"  # not the workflow's token: other workflows run
    assert any(e.path == "/app/installations/99/access_tokens" for e in standin.log)


def test_credentials_come_from_the_environment_in_a_documented_order():
    token = github_auth(None, env={"GITHUB_TOKEN": "a", "RECLAIM_GITHUB_TOKEN": "b"})
    assert isinstance(token, Auth.Token) and token.token == "b"
    assert github_auth(None, env={"GITHUB_TOKEN": "a"}).token == "a"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="no GitHub credentials"):
        github_auth(None, env={})
    with pytest.raises(ConfigError, match="does not hold a PEM private key"):
        github_auth(GitHubAppConfig(app_id=1, installation_id=2), env={})
    with pytest.raises(ConfigError, match="must both be set"):
        github_auth(None, env={"RECLAIM_GITHUB_APP_ID": "12"})


def test_bad_token_and_unknown_repository_are_clear_errors(
    standin: GitHubStandIn, make_forge: ForgeFactory
):
    with pytest.raises(ForgeError, match="rejected the credentials"):
        make_forge(auth=Auth.Token("wrong"))
    with pytest.raises(ForgeError, match="404") as caught:
        make_forge(repository="acme/nope")
    assert caught.value.hint and "forge.repository" in caught.value.hint


def test_github_enterprise_api_prefix(tmp_path: Path, fake_time: FakeTime):
    from generator.forge.github import GitHubSettings, connect
    from generator.forge.throttle import WritePacer

    server = GitHubStandIn(tmp_path, prefix="/api/v3", clock=fake_time.clock).start()
    try:
        forge = connect(
            GitHubSettings(repository="acme/infra", api_url=f"{server.web}/api/v3"),
            Auth.Token("test-token"),
            sleeper=fake_time.sleep,
            pacer=WritePacer(clock=fake_time.clock, sleeper=fake_time.sleep),
        )
        outcome = sync_proposals(report(finding(1)), forge, FOLDER)
    finally:
        server.stop()
    assert outcome.stopped is None and len(server.pulls) == 1
    assert server.violations == []
    assert all(e.path.startswith("/repos/") for e in server.log)  # prefix stripped, all served


def test_result_states_follow_the_journal(tmp_path: Path):
    folder = applied_folder(tmp_path)
    assert result_comment(folder).state is RunState.APPLIED
    journal = folder.load_journal()
    assert journal is not None and journal.apply is not None
    journal.apply.status = "failed"
    journal.apply.error = "DeleteVolume: VolumeInUse"
    folder.save_journal(journal)
    failed = result_comment(folder)
    assert failed.state is RunState.FAILED
    assert "Failed" in failed.markdown and "VolumeInUse" in failed.markdown
