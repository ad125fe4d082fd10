"""Where a state address is declared: the ``resource`` block in the root's (or a local
module's) .tf files, its line range, and how it is repeated (``count``/``for_each``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lark import Token, Tree

from generator.iac import hcl
from generator.iac.state import StateInstance

_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(\[(?:"(?:[^"\\]|\\.)*"|\d+)\])?')

Repeat = Literal["count", "for_each"]


@dataclass(frozen=True)
class Location:
    """The block that declares one state instance."""

    file: Path
    block: tuple[str, str]
    """(resource type, name)."""
    start_line: int
    end_line: int
    repeat: Repeat | None
    index: int | str | None
    module_instance: bool
    """Inside a module called with count/for_each: the module call decides, not this block."""

    def where(self, relative_to: Path) -> str:
        try:
            shown = self.file.relative_to(relative_to).as_posix()
        except ValueError:
            shown = self.file.as_posix()
        return f"{shown}:{self.start_line}-{self.end_line}"


class NotLocated(Exception):
    """The address is in state but its declaration cannot be found or read; the message
    says why (a registry module, an unreadable file, no such block)."""


def _module_dir(directory: Path, name: str) -> Path:
    for path in hcl.tf_files(directory):
        try:
            parsed = hcl.read_tf(path)
        except hcl.Unreadable as error:
            raise NotLocated(f"cannot read {path}: {error}") from None
        for labels, block in hcl.blocks(parsed.tree, "module"):
            if labels != (name,):
                continue
            source_attr = hcl.attribute(block, "source")
            source = None if source_attr is None else hcl.string_literal(hcl.value_of(source_attr))
            if source is None or not source.startswith(("./", "../")):
                raise NotLocated(
                    f"module {name!r} ({path}) has source {source!r}, not a local directory: "
                    "its code is not in this repository"
                )
            return (directory / source).resolve()
    raise NotLocated(f"no module {name!r} is declared in {directory}")


def _module_path(module: str) -> tuple[list[str], bool]:
    """The module call names along ``module.a.module.b``, and whether any is indexed."""
    names: list[str] = []
    indexed = False
    rest = module
    while rest:
        match = _MODULE_STEP.match(rest)
        if match is None:
            raise NotLocated(f"cannot read the module path {module!r}")
        names.append(match.group(1))
        indexed = indexed or match.group(2) is not None
        rest = rest[match.end() :].removeprefix(".")
    return names, indexed


def _repeat(block: Tree[Token]) -> Repeat | None:
    for kind in ("for_each", "count"):
        if hcl.attribute(block, kind) is not None:
            return kind
    return None


def find_block(
    directory: Path, kind: str, labels: tuple[str, ...]
) -> tuple[hcl.TfFile, Tree[Token]]:
    """The one ``kind "labels"...`` block among a module directory's .tf files."""
    found: list[tuple[hcl.TfFile, Tree[Token]]] = []
    for path in hcl.tf_files(directory):
        try:
            parsed = hcl.read_tf(path)
        except hcl.Unreadable as error:
            raise NotLocated(f"cannot read {path}: {error}") from None
        found += [(parsed, block) for got, block in hcl.blocks(parsed.tree, kind) if got == labels]
    if len(found) != 1:
        what = " ".join([kind, *(f'"{label}"' for label in labels)])
        raise NotLocated(
            f"{what} is declared {len(found)} times in {directory}"
            if found
            else f"no {what} is declared in {directory}"
        )
    return found[0]


def locate(root_dir: Path, instance: StateInstance) -> Location:
    """The declaration of ``instance`` under ``root_dir`` (NotLocated says why not)."""
    names, indexed = _module_path(instance.module)
    directory = root_dir.resolve()
    for name in names:
        directory = _module_dir(directory, name)
    parsed, block = find_block(directory, "resource", (instance.type, instance.name))
    where = hcl.span(block)
    return Location(
        file=parsed.path,
        block=(instance.type, instance.name),
        start_line=parsed.line_of(where.start),
        end_line=parsed.line_of(where.end - 1),
        repeat=_repeat(block),
        index=instance.index,
        module_instance=indexed,
    )
