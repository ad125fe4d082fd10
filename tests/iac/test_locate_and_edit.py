"""The block behind a state address is found (plain, count, for_each, local module) and the
code change leaves every other byte of the file as it was."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from generator.iac.edit import CannotEdit, remove_instance, set_attributes
from generator.iac.locate import NotLocated, find_block, locate
from generator.iac.state import StateInstance
from tests.iac.roots import MAIN_TF, MODULE_TF, write_root


def instance(
    type_: str, name: str, index: int | str | None = None, module: str = ""
) -> StateInstance:
    return StateInstance("storage", module, type_, name, index, "vol-1", None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_root(tmp_path / "infra")


def _edit_remove(root: Path, found: StateInstance) -> tuple[str, str]:
    location = locate(root, found)
    parsed, block = find_block(location.file.parent, "resource", location.block)
    return parsed.text, remove_instance(parsed, block, found.index)


def test_a_plain_block_is_found_with_its_lines_not_the_heredoc_lookalike(root: Path) -> None:
    location = locate(root, instance("aws_ebs_volume", "scratch"))
    assert location.file == (root / "main.tf").resolve()
    assert (location.start_line, location.end_line) == (12, 20)
    assert MAIN_TF.splitlines()[11] == 'resource "aws_ebs_volume" "scratch" {'
    assert location.repeat is None and location.where(root.resolve()) == "main.tf:12-20"


def test_a_resource_in_a_local_module_is_found_in_the_module(root: Path) -> None:
    location = locate(root, instance("aws_ebs_volume", "this", "a", module="module.disks"))
    assert location.file == (root / "modules/disks/main.tf").resolve()
    assert (location.start_line, location.end_line, location.repeat) == (5, 9, "for_each")


def test_an_unknown_block_or_a_registry_module_is_not_located(root: Path) -> None:
    with pytest.raises(NotLocated, match='no resource "aws_ebs_volume" "gone"'):
        locate(root, instance("aws_ebs_volume", "gone"))
    (root / "extra.tf").write_text(
        'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
    )
    with pytest.raises(NotLocated, match="not a local directory"):
        locate(root, instance("aws_subnet", "x", module="module.vpc"))
    (root / "broken.tf").write_text('resource "x" {\n')
    with pytest.raises(NotLocated, match="cannot read"):
        locate(root, instance("aws_ebs_volume", "scratch"))


def test_removing_a_plain_block_keeps_every_other_byte(root: Path) -> None:
    before, after = _edit_remove(root, instance("aws_ebs_volume", "scratch"))
    block = MAIN_TF[MAIN_TF.index('\nresource "aws_ebs_volume" "scratch"') + 1 :]
    block = block[: block.index("}\n}\n") + 4]
    assert before == MAIN_TF
    assert after == MAIN_TF.replace(block, "", 1)
    # The comment above it and the heredoc that looks like it are still there.
    assert "Nobody remembers why it is gp2. */\n\n# keep this one" in after
    assert after.count('resource "aws_ebs_volume" "scratch"') == 1  # the heredoc's
    hcl2.parses_to_tree(after)  # and the edited file still parses


def test_removing_a_for_each_key_removes_that_element_only(root: Path) -> None:
    _, after = _edit_remove(root, instance("aws_ebs_volume", "by_team", "red"))
    assert after == MAIN_TF.replace("    red  = 1 # the red team's\n", "", 1)


def test_removing_a_toset_element_in_a_module(root: Path) -> None:
    found = instance("aws_ebs_volume", "this", "a", module="module.disks")
    before, after = _edit_remove(root, found)
    assert before == MODULE_TF
    assert after == MODULE_TF.replace('toset(["a", "b"])', 'toset(["b"])', 1)
    found_b = instance("aws_ebs_volume", "this", "b", module="module.disks")
    _, after_b = _edit_remove(root, found_b)
    assert after_b == MODULE_TF.replace('toset(["a", "b"])', 'toset(["a"])', 1)


def test_count_drops_only_for_its_last_index(root: Path) -> None:
    _, after = _edit_remove(root, instance("aws_ebs_volume", "pool", 1))
    assert after == MAIN_TF.replace("count             = 2", "count             = 1", 1)
    with pytest.raises(CannotEdit, match="lowering count would destroy the last one"):
        _edit_remove(root, instance("aws_ebs_volume", "pool", 0))


def test_for_each_over_an_expression_needs_a_person(root: Path) -> None:
    (root / "main.tf").write_text(MAIN_TF.replace("for_each = {", "for_each = var.teams\n  x = {"))
    with pytest.raises(CannotEdit, match="not a literal map or set"):
        _edit_remove(root, instance("aws_ebs_volume", "by_team", "red"))


def test_type_gp2_becomes_gp3_in_place(root: Path) -> None:
    location = locate(root, instance("aws_ebs_volume", "scratch"))
    parsed, block = find_block(location.file.parent, "resource", location.block)
    after = set_attributes(parsed, block, {"type": "gp3"}, {"type": "gp2"})
    assert after == MAIN_TF.replace('"gp2" # cheap', '"gp3" # cheap', 1)


def test_an_absent_attribute_is_added_as_one_new_line(root: Path) -> None:
    location = locate(root, instance("aws_ebs_volume", "keep"))
    parsed, block = find_block(location.file.parent, "resource", location.block)
    after = set_attributes(parsed, block, {"type": "gp3"}, {"type": "gp2"})
    head = 'resource "aws_ebs_volume" "keep" {\n'
    assert after == MAIN_TF.replace(head, head + '  type = "gp3"\n', 1)


def test_code_that_disagrees_with_aws_or_repeats_is_left_to_a_person(root: Path) -> None:
    text = MAIN_TF.replace('"gp2" # cheap', '"io1" # cheap')
    (root / "main.tf").write_text(text)
    parsed, block = find_block(root, "resource", ("aws_ebs_volume", "scratch"))
    with pytest.raises(CannotEdit, match="the code and the resource disagree"):
        set_attributes(parsed, block, {"type": "gp3"}, {"type": "gp2"})
    parsed, block = find_block(root, "resource", ("aws_ebs_volume", "by_team"))
    with pytest.raises(CannotEdit, match="every one of them"):
        set_attributes(parsed, block, {"type": "gp3"}, {"type": "gp2"})


def test_crlf_files_keep_their_line_endings(root: Path) -> None:
    crlf = MAIN_TF.replace("\n", "\r\n")
    (root / "main.tf").write_bytes(crlf.encode())
    before, after = _edit_remove(root, instance("aws_ebs_volume", "by_team", "red"))
    assert before == crlf
    assert after == crlf.replace("    red  = 1 # the red team's\r\n", "", 1)
