"""The validate workflow's step: only touched remediations, checked without AWS, summarized."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from rich.console import Console

from generator.config import parse_config
from generator.pipeline.ci_commands import validate_changed
from generator.pipeline.summary import MARKER
from generator.planner import plan_finding, write_remediation
from tests.factories import volume_finding


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _validated(repo: Path, tmp_path: Path) -> tuple[bool, Path]:
    """validate-changed of the repository's HEAD against main: (valid, its summary file)."""
    config = parse_config({}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    with open(tmp_path / "out.txt", "w") as stream:
        console = Console(file=stream, width=200)
        valid = validate_changed(
            config, "main", event_path=None, summary_path=summary, repo=repo, out=console,
            err=console,
        )  # fmt: skip
    return valid, summary


def repo_with_a_pr(tmp_path: Path) -> tuple[Path, list[str]]:
    sh(tmp_path, "init", "-q", "-b", "main")
    old = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000aa")), tmp_path / "remediations"
    )
    sh(tmp_path, "add", ".")
    sh(tmp_path, "commit", "-q", "-m", "base")
    sh(tmp_path, "checkout", "-q", "-b", "pr")
    good = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000bb", size_gib=200)),
        tmp_path / "remediations",
    )
    bad = write_remediation(
        plan_finding(volume_finding(volume_id="vol-000000000000000cc")), tmp_path / "remediations"
    )
    plan = json.loads((bad / "plan.json").read_text())
    plan["steps"][3]["call"]["operation"] = "DeleteSnapshot"  # a hand-edited plan
    (bad / "plan.json").write_text(json.dumps(plan))
    sh(tmp_path, "add", ".")
    sh(tmp_path, "commit", "-q", "-m", "pr")
    return tmp_path, [old.name, good.name, bad.name]


def test_touched_remediations_are_validated_and_summed(tmp_path: Path) -> None:
    repo, (old, good, bad) = repo_with_a_pr(tmp_path)
    valid, summary = _validated(repo, tmp_path)
    assert valid is False
    text = summary.read_text()
    assert text.startswith(MARKER)
    assert good in text and bad in text and old not in text
    assert f"**`remediations/{bad}` is invalid:**" in text
    # only the valid remediation counts toward the total: 200 GiB gp2 at $0.10
    assert "**$20.00/month** ($240.00/year) across 2 remediation(s)" in text


def _commit(repo: Path, message: str) -> None:
    sh(repo, "add", "-A")
    sh(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", message)


def test_journals_and_edits_of_journaled_folders_are_refused(tmp_path: Path) -> None:
    """A PR may add remediations; it may not bring a journal, change or delete one, nor
    change a remediation that already ran (its journal is on the base)."""
    repo = tmp_path
    sh(repo, "init", "-q", "-b", "main")
    root = repo / "remediations"
    applied = write_remediation(
        plan_finding(volume_finding(volume_id="vol-0000000000000a001")), root
    )
    (applied / "journal.json").write_text('{"recorded": "by reclaim"}\n')
    running = write_remediation(
        plan_finding(volume_finding(volume_id="vol-0000000000000a002")), root
    )
    (running / "journal.json").write_text('{"recorded": "by reclaim"}\n')
    pending = write_remediation(
        plan_finding(volume_finding(volume_id="vol-0000000000000a003")), root
    )
    _commit(repo, "base")
    sh(repo, "checkout", "-q", "-b", "pr")
    readme = applied / "README.md"
    readme.write_text(readme.read_text().replace("Delete", "Keep", 1))
    (running / "journal.json").unlink()
    (pending / "journal.json").write_text('{"apply": "completed, trust me"}\n')
    new = write_remediation(plan_finding(volume_finding(volume_id="vol-0000000000000a004")), root)
    _commit(repo, "pr")

    valid, summary = _validated(repo, tmp_path)
    assert valid is False
    text = summary.read_text()

    def refusal(folder: Path) -> str:
        start = text.index(f"**`remediations/{folder.name}` is invalid:**")
        return text[start:].split("\n\n")[0]

    assert "the plan already ran" in refusal(applied) and "README.md" in refusal(applied)
    assert "adds, changes or deletes journal.json" in refusal(running)
    assert "adds, changes or deletes journal.json" in refusal(pending)
    assert f"`remediations/{new.name}` is invalid" not in text  # a new remediation is fine


def test_a_folder_name_that_is_not_utf8_is_an_invalid_row(tmp_path: Path) -> None:
    repo, _names = repo_with_a_pr(tmp_path)
    odd = repo / "remediations" / os.fsdecode(b"ebs-unattached-\xff")
    odd.mkdir()
    (odd / "plan.json").write_text("{}\n")
    (odd / "journal.json").write_text("{}\n")
    _commit(repo, "odd")
    config = parse_config({}, source="reclaim.yml", base_dir=repo)
    summary = tmp_path / "summary.md"
    # a strict UTF-8 stream, as a runner's stdout is: a surrogate would not print
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as stream:
        console = Console(file=stream, width=200)
        valid = validate_changed(
            config, "main", event_path=None, summary_path=summary, repo=repo, out=console,
            err=console,
        )  # fmt: skip
    assert valid is False
    text = summary.read_text(encoding="utf-8")
    assert (
        "**`remediations/ebs-unattached-\\xff` is invalid:** the folder name is not valid" in text
    )


def test_a_pr_that_edits_the_proposals_file_is_refused(tmp_path: Path) -> None:
    """What the forge holds decides which findings the next scan confirms: a PR that names
    the next findings as held (so their stop protection or skip tag is not read) fails."""
    repo = tmp_path
    sh(repo, "init", "-q", "-b", "main")
    held = repo / ".reclaim/proposals.json"
    held.parent.mkdir()
    held.write_text('{"version": 1, "as_of": "2026-03-01T00:00:00Z"}\n')
    _commit(repo, "base")
    sh(repo, "checkout", "-q", "-b", "pr")
    held.write_text(
        '{"version": 1, "as_of": "2026-03-01T00:00:00Z", "open_count": 1,'
        ' "open": ["ec2-idle-123456789012-us-east-1-i-0123456789abcdef0"]}\n'
    )
    _commit(repo, "pr")

    valid, summary = _validated(repo, tmp_path)
    assert valid is False
    assert "the pull request changes .reclaim/proposals.json" in summary.read_text()
