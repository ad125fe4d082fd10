"""The .tf files as python-hcl2's parse tree, with the character span of every node.

python-hcl2's Lark parser keeps positions (``propagate_positions``): every node's
``meta.start_pos``/``end_pos`` index the text it came from, so a change can replace
exactly the characters of one node and leave every other byte of the file as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hcl2
from lark import Token, Tree

SKIP_DIRS = frozenset({".terraform", ".git", "node_modules", ".venv"})
MAX_TF_BYTES = 4 * 1024 * 1024


class Unreadable(Exception):
    """A .tf file python-hcl2 cannot parse (or not UTF-8): nothing in it can be located."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class TfFile:
    path: Path
    text: str
    tree: Tree[Token]

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1


def read_tf(path: Path) -> TfFile:
    try:
        data = path.read_bytes()
        if len(data) > MAX_TF_BYTES:
            raise Unreadable(f"{path.name} is larger than 4 MiB")
        # Decoding and re-encoding strict UTF-8 round-trips every byte; newlines are kept as
        # they are (no universal-newline translation).
        text = data.decode("utf-8")
        return TfFile(path, text, hcl2.parses_to_tree(text))
    except Unreadable:
        raise
    except Exception as error:  # python-hcl2 raises lark's many error types
        raise Unreadable(f"{path.name}: {type(error).__name__}") from None


def tf_files(directory: Path) -> Iterator[Path]:
    """The module's own .tf files (Terraform reads one directory, not its subdirectories)."""
    for path in sorted(directory.glob("*.tf")):
        if path.is_file():
            yield path


def span(node: Tree[Token] | Token) -> Span:
    if isinstance(node, Token):
        assert node.start_pos is not None and node.end_pos is not None
        return Span(node.start_pos, node.end_pos)
    return Span(node.meta.start_pos, node.meta.end_pos)


def trees(node: Tree[Token], data: str) -> Iterator[Tree[Token]]:
    for child in node.children:
        if isinstance(child, Tree) and child.data == data:
            yield child


def body_of(block: Tree[Token]) -> Tree[Token]:
    return next(trees(block, "body"))


def name_text(node: Tree[Token] | Token) -> str | None:
    """The text of an identifier, keyword, or a plain string literal (no interpolation)."""
    if isinstance(node, Token):
        return str(node)
    if node.data in ("identifier", "keyword"):
        return str(node.children[0])
    if node.data == "expr_term" and len(node.children) == 1:
        return name_text(node.children[0])
    if node.data == "object_elem_key" and len(node.children) == 1:
        return name_text(node.children[0])
    return string_literal(node)


def string_literal(node: Tree[Token]) -> str | None:
    """The value of ``"text"`` when it is a plain literal (no escape, no interpolation)."""
    if node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    if node.data != "string":
        return None
    parts = [c for c in node.children if isinstance(c, Tree)]
    if not parts:
        return ""
    if len(parts) != 1 or parts[0].data != "string_part":
        return None
    tokens = parts[0].children
    if len(tokens) != 1 or not isinstance(tokens[0], Token) or tokens[0].type != "STRING_CHARS":
        return None
    text = str(tokens[0])
    return None if "\\" in text or "${" in text or "%{" in text else text


def literal_part(node: Tree[Token]) -> Tree[Token] | None:
    """The string_part of a plain string literal expression (what a value change replaces)."""
    if string_literal(node) is None:
        return None
    string = node.children[0] if node.data == "expr_term" else node
    assert isinstance(string, Tree)
    parts = [c for c in string.children if isinstance(c, Tree)]
    return parts[0] if parts else None


def int_literal(node: Tree[Token]) -> int | None:
    if node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    if node.data == "int_lit" and len(node.children) == 1:
        text = str(node.children[0])
        return int(text) if text.isdigit() else None
    return None


def blocks(tree: Tree[Token], kind: str) -> Iterator[tuple[tuple[str, ...], Tree[Token]]]:
    """(labels, block) of every top-level block of ``kind`` (resource, module, ...)."""
    body = next(trees(tree, "body"), None)
    if body is None:
        return
    for block in trees(body, "block"):
        head = block.children[0]
        if name_text(head) != kind:
            continue
        labels = []
        for label in block.children[1:]:
            if isinstance(label, Token):
                break
            text = name_text(label)
            if text is None:
                break
            labels.append(text)
        yield tuple(labels), block


def attribute(block: Tree[Token], name: str) -> Tree[Token] | None:
    """The block's own ``name = ...`` attribute (not one in a nested block)."""
    for item in trees(body_of(block), "attribute"):
        if name_text(item.children[0]) == name:
            return item
    return None


def value_of(attribute_node: Tree[Token]) -> Tree[Token]:
    value = attribute_node.children[-1]
    assert isinstance(value, Tree)
    return value


def unwrap(node: Tree[Token]) -> Tree[Token]:
    """The expression inside expr_term wrappers."""
    while node.data == "expr_term" and len(node.children) == 1:
        child = node.children[0]
        if not isinstance(child, Tree):
            break
        node = child
    return node


def object_elements(node: Tree[Token]) -> Iterator[tuple[str | None, Tree[Token]]]:
    """(key, element) of an object literal; key None when it is not a plain name/string."""
    for element in trees(node, "object_elem"):
        yield name_text(element.children[0]), element


def tuple_elements(node: Tree[Token]) -> Iterator[Tree[Token]]:
    yield from trees(node, "expr_term")
