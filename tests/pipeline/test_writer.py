"""Re-running init: idempotent, and never overwriting a user's edit without --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.pipeline.spec import PipelineOptions
from generator.pipeline.writer import (
    MANIFEST_PATH,
    Action,
    Generated,
    InitConflict,
    apply_changes,
    load_manifest,
    plan_changes,
)

OPTIONS = PipelineOptions(repository="acme/cost", service_account_id="111111111111")
BLOCK = "# BEGIN reclaim (generated)\n/remediations/*-222222222222-*/ @acme/prod\n# END reclaim\n"


def write(root: Path, files: list[Generated], *, force: bool = False) -> dict[str, Action]:
    changes = plan_changes(root, files, load_manifest(root), force=force)
    apply_changes(root, changes, OPTIONS)
    return {c.generated.path: c.action for c in changes}


def test_first_run_creates_and_second_run_changes_nothing(tmp_path: Path) -> None:
    files = [Generated("a.yml", "one\n"), Generated("dir/b.tf", "two\n")]
    assert write(tmp_path, files) == {"a.yml": Action.CREATE, "dir/b.tf": Action.CREATE}
    manifest = load_manifest(tmp_path)
    assert manifest is not None and set(manifest.files) == {"a.yml", "dir/b.tf"}
    before = (tmp_path / MANIFEST_PATH).read_text()
    assert write(tmp_path, files) == {"a.yml": Action.UNCHANGED, "dir/b.tf": Action.UNCHANGED}
    assert (tmp_path / MANIFEST_PATH).read_text() == before


def test_an_unedited_file_is_updated_when_the_generator_changes(tmp_path: Path) -> None:
    write(tmp_path, [Generated("a.yml", "one\n")])
    assert write(tmp_path, [Generated("a.yml", "one, improved\n")]) == {"a.yml": Action.UPDATE}
    assert (tmp_path / "a.yml").read_text() == "one, improved\n"


def test_an_edited_file_is_shown_as_a_diff_and_nothing_is_written(tmp_path: Path) -> None:
    write(tmp_path, [Generated("a.yml", "one\n"), Generated("b.yml", "two\n")])
    (tmp_path / "a.yml").write_text("one, edited by hand\n")
    files = [Generated("a.yml", "one, regenerated\n"), Generated("b.yml", "two, regenerated\n")]
    changes = plan_changes(tmp_path, files, load_manifest(tmp_path), force=False)
    conflict = next(c for c in changes if c.generated.path == "a.yml")
    assert conflict.action is Action.CONFLICT
    assert "-one, edited by hand" in conflict.diff and "+one, regenerated" in conflict.diff
    with pytest.raises(InitConflict, match=r"a\.yml; nothing was written"):
        apply_changes(tmp_path, changes, OPTIONS)
    assert (tmp_path / "a.yml").read_text() == "one, edited by hand\n"
    assert (tmp_path / "b.yml").read_text() == "two\n"  # all or nothing


def test_force_replaces_the_edited_file(tmp_path: Path) -> None:
    write(tmp_path, [Generated("a.yml", "one\n")])
    (tmp_path / "a.yml").write_text("mine\n")
    assert write(tmp_path, [Generated("a.yml", "new\n")], force=True) == {"a.yml": Action.OVERWRITE}
    assert (tmp_path / "a.yml").read_text() == "new\n"
    assert write(tmp_path, [Generated("a.yml", "new\n")]) == {"a.yml": Action.UNCHANGED}


def test_a_file_reclaim_never_wrote_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("the user's own\n")
    changes = plan_changes(tmp_path, [Generated("a.yml", "ours\n")], None, force=False)
    assert changes[0].action is Action.CONFLICT


def test_codeowners_block_is_added_to_the_users_file_and_kept_in_place(tmp_path: Path) -> None:
    codeowners = tmp_path / ".github/CODEOWNERS"
    codeowners.parent.mkdir()
    codeowners.write_text("* @acme/everyone\n/docs/ @acme/writers")
    write(tmp_path, [Generated(".github/CODEOWNERS", BLOCK, block=True)])
    assert codeowners.read_text() == f"* @acme/everyone\n/docs/ @acme/writers\n\n{BLOCK}"
    # the user adds a line after the block; a new block replaces the old one in place
    codeowners.write_text(codeowners.read_text() + "/infra/ @acme/infra\n")
    new_block = BLOCK.replace("@acme/prod", "@acme/prod @acme/finops")
    write(tmp_path, [Generated(".github/CODEOWNERS", new_block, block=True)])
    assert codeowners.read_text() == (
        f"* @acme/everyone\n/docs/ @acme/writers\n\n{new_block}/infra/ @acme/infra\n"
    )


def test_an_edited_codeowners_block_is_a_conflict(tmp_path: Path) -> None:
    write(tmp_path, [Generated(".github/CODEOWNERS", BLOCK, block=True)])
    path = tmp_path / ".github/CODEOWNERS"
    path.write_text(path.read_text().replace("@acme/prod", "@acme/someone-else"))
    changes = plan_changes(
        tmp_path,
        [Generated(".github/CODEOWNERS", BLOCK.replace("prod", "prod2"), block=True)],
        load_manifest(tmp_path),
        force=False,
    )
    assert changes[0].action is Action.CONFLICT
