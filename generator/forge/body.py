"""Keeping bodies under GitHub's 65,536-character limit without losing the point.

Sizes are counted in UTF-8 bytes, which is never less than the characters GitHub counts, so
a body that fits here fits there. When a body is too long its largest ``## `` sections are
folded into ``<details>`` and cut at a line boundary, with a note saying where the full text
is; the first lines (title and summary table) are kept whole as long as possible.
"""

from __future__ import annotations

GITHUB_BODY_LIMIT = 65_536
_SAFETY = 64  # room for the sizes printed in the notes themselves


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, budget: int) -> str:
    """The longest prefix within ``budget`` bytes, ending at a line break when there is one."""
    if budget <= 0:
        return ""
    head = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    newline = head.rfind("\n")
    return head[: newline + 1] if newline > 0 else head


def _sections(markdown: str) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    for line in markdown.splitlines(keepends=True):
        if line.startswith("## ") and current:
            sections.append("".join(current))
            current = []
        current.append(line)
    if current:
        sections.append("".join(current))
    return sections


def _folded(section: str, budget: int, full_text_at: str) -> str:
    heading, _, content = section.partition("\n")
    title = heading.removeprefix("## ").strip() if heading.startswith("## ") else "Details"
    note = (
        f"\n\n> Cut: this section has {size(content):,} characters, more than a GitHub "
        f"body holds. The full text is in {full_text_at}.\n"
    )
    opening = f"{heading}\n<details><summary>{title} (folded, cut)</summary>\n\n"
    closing = "</details>\n"
    kept = _cut(content, budget - size(opening) - size(note) - size(closing))
    return f"{opening}{kept}{note}{closing}"


def fit_body(
    markdown: str,
    *,
    full_text_at: str,
    limit: int = GITHUB_BODY_LIMIT,
    reserve: int = 0,
) -> str:
    """``markdown`` unchanged when it fits in ``limit - reserve`` bytes, else folded and cut."""
    budget = limit - reserve - _SAFETY
    if size(markdown) <= limit - reserve:
        return markdown
    sections = _sections(markdown)
    by_size = sorted(range(len(sections)), key=lambda i: -size(sections[i]))
    for index in by_size:
        others = sum(size(s) for i, s in enumerate(sections) if i != index)
        sections[index] = _folded(sections[index], budget - others, full_text_at)
        if sum(size(s) for s in sections) <= budget:
            return "".join(sections)
    note = f"\n\n> Cut to fit GitHub's limit. The full text is in {full_text_at}.\n"
    return _cut("".join(sections), budget - size(note)) + note
