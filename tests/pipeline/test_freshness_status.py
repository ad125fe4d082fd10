"""The reclaim/fresh status text: GitHub refuses a description over 140 characters."""

from __future__ import annotations

from datetime import UTC, datetime

from generator.pipeline.freshness import DESCRIPTION_LIMIT, Verdict, _without_plan_id

AS_OF = datetime(2026, 12, 2, 6, 23, tzinfo=UTC)


def test_the_description_carries_the_time_and_fits_githubs_limit() -> None:
    assert Verdict("success", "re-observed, 2 pre-check(s) pass; dry run at apply").description(
        AS_OF
    ) == (
        "still idle as of 2026-12-02 06:23 UTC: re-observed, 2 pre-check(s) pass; dry run at apply"
    )
    long = Verdict("failure", "the volume " + "x" * 300).description(AS_OF)
    assert len(long) == DESCRIPTION_LIMIT and long.endswith("…")
    assert long.startswith("changed as of 2026-12-02 06:23 UTC: the volume ")
    assert Verdict("error", "AccessDenied").description(AS_OF).startswith("not checked as of ")


def test_the_plan_id_and_the_nothing_changed_tail_are_left_out() -> None:
    message = (
        "ebs-unattached-1-us-east-1-vol-1: looked at again now, rule 'ebs-unattached' does not "
        "find vol-1 idle; nothing was changed"
    )
    assert _without_plan_id(message, "ebs-unattached-1-us-east-1-vol-1") == (
        "looked at again now, rule 'ebs-unattached' does not find vol-1 idle"
    )
