"""Changes to a .tf file that touch only the characters of what changes.

Every edit is a splice of the original text at python-hcl2's node positions: comments,
blank lines, heredocs, alignment and the rest of the file keep every byte. What cannot be
expressed as such a splice (a ``for_each`` over a variable, an attribute set by an
expression) raises CannotEdit with what a person should change instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token, Tree

from generator.iac import hcl
from generator.iac.state import index_suffix

_SIMPLE_VALUE = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
_LINE_END_OK = re.compile(r"[ \t]*(?:(?:#|//)[^\n]*)?(?:\r?\n|$)")


class CannotEdit(Exception):
    """The code change cannot be made safely by splicing text; the message says what a
    person should change instead."""


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str = ""

    def apply(self, original: str) -> str:
        return original[: self.start] + self.text + original[self.end :]


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _whole_lines(text: str, start: int, end: int) -> Splice:
    """[start, end) with its lines when nothing else is on them (a trailing comment on the
    last line goes with it); else just [start, end)."""
    first = _line_start(text, start)
    if text[first:start].strip(" \t"):
        return Splice(start, end)
    tail = _LINE_END_OK.match(text, end)
    if tail is None:
        return Splice(start, end)
    return Splice(first, tail.end())


def remove_block(parsed: hcl.TfFile, block: Tree[Token]) -> str:
    where = hcl.span(block)
    return _whole_lines(parsed.text, where.start, where.end).apply(parsed.text)


def _remove_element(text: str, start: int, end: int) -> str:
    """One element of a map or list literal, with its separating comma."""
    after = re.compile(r"[ \t]*,").match(text, end)
    if after is not None:
        end = after.end()
    lines = _whole_lines(text, start, end)
    if lines.start != start:
        return lines.apply(text)
    if after is not None:
        trailing = re.compile(r"[ \t]*").match(text, end)
        assert trailing is not None
        return Splice(start, trailing.end()).apply(text)
    before = re.compile(r",[ \t]*$").search(text, 0, start)
    return Splice(before.start() if before else start, end).apply(text)


def _for_each_element(value: Tree[Token], key: str) -> tuple[int, int] | None:
    expression = hcl.unwrap(value)
    if expression.data == "object":
        matches = [e for k, e in hcl.object_elements(expression) if k == key]
    elif expression.data == "function_call":
        arguments = list(hcl.trees(expression, "arguments"))
        name = hcl.name_text(expression.children[0])
        if name != "toset" or len(arguments) != 1 or len(arguments[0].children) != 1:
            return None
        listed = hcl.unwrap(arguments[0].children[0])  # type: ignore[arg-type]
        if listed.data != "tuple":
            return None
        matches = [e for e in hcl.tuple_elements(listed) if hcl.string_literal(e) == key]
    else:
        return None
    if len(matches) != 1:
        return None
    where = hcl.span(matches[0])
    return where.start, where.end


def remove_instance(parsed: hcl.TfFile, block: Tree[Token], index: int | str | None) -> str:
    """The file without the block (no count/for_each), without the instance's element of a
    literal ``for_each``, or with a literal ``count`` one lower when it is the last index."""
    for_each = hcl.attribute(block, "for_each")
    count = hcl.attribute(block, "count")
    name = "resource " + " ".join(f'"{label}"' for label in _labels(block))
    if for_each is None and count is None:
        if index is not None:
            raise CannotEdit(f"{name} has no count or for_each, but the state has an index")
        return remove_block(parsed, block)
    if for_each is not None:
        if not isinstance(index, str):
            raise CannotEdit(f"{name} uses for_each; the state's index is not a key")
        element = _for_each_element(hcl.value_of(for_each), index)
        if element is None:
            raise CannotEdit(
                f"{name} takes for_each from an expression, not a literal map or set "
                f"holding {index!r}: remove the key {index!r} where that value is defined"
            )
        return _remove_element(parsed.text, *element)
    assert count is not None
    total = hcl.int_literal(hcl.value_of(count))
    if total is None or not isinstance(index, int) or index != total - 1:
        raise CannotEdit(
            f"{name}{index_suffix(index)} is one of count = {_source(parsed, count)} instances; "
            "lowering count would destroy the last one, not this one: move this instance out "
            "of the count (a moved block) or switch to for_each, then remove it"
        )
    where = hcl.span(hcl.unwrap(hcl.value_of(count)))
    return Splice(where.start, where.end, str(total - 1)).apply(parsed.text)


def _labels(block: Tree[Token]) -> list[str]:
    return [hcl.string_literal(c) or "?" for c in block.children[1:] if isinstance(c, Tree)][:2]


def _source(parsed: hcl.TfFile, node: Tree[Token]) -> str:
    where = hcl.span(hcl.value_of(node))
    return parsed.text[where.start : where.end]


def set_attributes(
    parsed: hcl.TfFile, block: Tree[Token], values: dict[str, str | int], was: dict[str, str]
) -> str:
    """The file with each ``name = value`` set in the block: a literal's characters
    replaced, or a new line added after the opening brace when the attribute is absent.

    ``was`` holds what a literal must say now (``type`` must be "gp2"): code saying
    something else disagrees with what AWS reported, and is left to a person."""
    name = "resource " + " ".join(f'"{label}"' for label in _labels(block))
    if hcl.attribute(block, "for_each") is not None or hcl.attribute(block, "count") is not None:
        raise CannotEdit(
            f"{name} declares several instances (count/for_each): changing "
            f"{', '.join(values)} in the block would change every one of them; set it for "
            "this instance only (e.g. from the for_each value)"
        )
    splices: list[Splice] = []
    missing: list[str] = []
    for attribute_name, new in values.items():
        text = str(new)
        if not _SIMPLE_VALUE.match(text):
            raise CannotEdit(f"{attribute_name}: {text!r} is not a plain value")
        found = hcl.attribute(block, attribute_name)
        if found is None:
            missing.append(
                f'{attribute_name} = "{text}"'
                if isinstance(new, str)
                else f"{attribute_name} = {text}"
            )
            continue
        value = hcl.value_of(found)
        current: str | None
        if isinstance(new, str):
            part = hcl.literal_part(value)
            current = hcl.string_literal(value)
            target = part
        else:
            number = hcl.int_literal(value)
            current = None if number is None else str(number)
            target = hcl.unwrap(value) if number is not None else None
        if target is None or current is None:
            raise CannotEdit(
                f"{name}: {attribute_name} = {_source(parsed, found)} is an expression, not a "
                f"literal: make it {text} where its value comes from"
            )
        expected = was.get(attribute_name)
        if expected is not None and current != expected:
            raise CannotEdit(
                f"{name}: the code says {attribute_name} = {current!r}, AWS says {expected!r}: "
                "the code and the resource disagree; look at it before changing either"
            )
        where = hcl.span(target)
        splices.append(Splice(where.start, where.end, text))
    if missing:
        splices.append(_insertion(parsed, block, missing))
    result = parsed.text
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        result = splice.apply(result)
    return result


def _insertion(parsed: hcl.TfFile, block: Tree[Token], lines: list[str]) -> Splice:
    """New attribute lines right after the block's opening brace line, indented like the
    block's first attribute."""
    text = parsed.text
    brace = next(c for c in block.children if isinstance(c, Token) and c.type == "LBRACE")
    assert brace.end_pos is not None
    newline = text.find("\n", brace.end_pos)
    if newline < 0:
        raise CannotEdit("the block is on one line: add the attributes by hand")
    first = next(hcl.trees(hcl.body_of(block), "attribute"), None)
    indent = "  "
    if first is not None:
        start = hcl.span(first).start
        indent = text[_line_start(text, start) : start]
        if indent.strip(" \t"):
            indent = "  "
    ending = "\r\n" if text[newline - 1 : newline] == "\r" else "\n"
    insert = "".join(f"{indent}{line}{ending}" for line in lines)
    return Splice(newline + 1, newline + 1, insert)
