"""Bodies under GitHub's limit: unchanged when they fit, folded and cut (never over) when not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.forge.body import GITHUB_BODY_LIMIT, fit_body, size
from generator.forge.markers import ProposalMeta, meta_comment, read_meta, strip_meta

WHERE = "`README.md`"


def test_a_body_that_fits_is_untouched():
    body = "# title\n\n## Why\n- evidence\n"
    assert fit_body(body, full_text_at=WHERE) == body


def test_the_largest_section_is_folded_and_the_rest_kept_whole():
    body = "# title\n| a | b |\n\n## Why\n" + "- line\n" * 20_000 + "## Undo\nComment /rollback\n"
    fitted = fit_body(body, full_text_at=WHERE)
    assert size(fitted) <= GITHUB_BODY_LIMIT
    assert fitted.startswith("# title\n| a | b |\n")
    assert "## Why\n<details><summary>Why (folded, cut)</summary>" in fitted
    assert "The full text is in `README.md`" in fitted
    assert fitted.endswith("## Undo\nComment /rollback\n")
    assert "\n- line\n</details>" not in fitted  # the cut note comes before the fold closes


@settings(max_examples=60, deadline=None)
@given(
    sections=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20), st.integers(0, 40_000), st.sampled_from("aé漢")
        ),
        min_size=1,
        max_size=6,
    ),
    reserve=st.integers(0, 2_000),
)
def test_never_over_the_limit_whatever_the_shape(sections, reserve):
    body = "".join(f"## {t.strip() or 'x'}\n" + (c * 50 + "\n") * (n // 50) for t, n, c in sections)
    fitted = fit_body(body, full_text_at=WHERE, reserve=reserve)
    assert size(fitted) <= GITHUB_BODY_LIMIT - reserve
    if size(body) <= GITHUB_BODY_LIMIT - reserve:
        assert fitted == body


def test_meta_survives_bodies_and_cannot_be_broken_out_of():
    meta = ProposalMeta(finding_id="x", fingerprint="abc", monthly_usd=1.5, closed_reason="a --> b")
    body = f"text\n\n{meta_comment(meta)}\n"
    assert "a --> b" not in body  # '>' is escaped inside the comment
    assert read_meta(body) == meta
    older = ProposalMeta(finding_id="x", fingerprint="old")
    assert read_meta(f"> {meta_comment(older)}\n{body}") == meta  # the last one wins
    assert strip_meta(body) == "text"
    assert read_meta("no meta") is None and read_meta(None) is None
