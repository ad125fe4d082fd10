"""How far apart a five-field cron schedule fires, for `reclaim doctor`: a required
reclaim/fresh status is only as recent as the last scheduled scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text: str, low: int, high: int) -> frozenset[int] | None:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                start, end = low, high
            elif "-" in span:
                first, last = span.split("-", 1)
                start, end = int(first), int(last)
            else:
                start = int(span)
                end = high if step_text else start
        except ValueError:
            return None  # names (MON, JAN) and the like: not worked out here
        if step < 1 or not low <= start <= end <= high:
            return None
        values.update(range(start, end + 1, step))
    return frozenset(values)


def longest_gap(cron: str, *, days: int = 400) -> timedelta | None:
    """The longest time between two firings of ``cron`` (UTC) over ``days`` days; None when
    the expression uses what this reader does not understand or never fires."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    parsed = [_field(text, low, high) for text, (low, high) in zip(fields, _RANGES, strict=True)]
    if any(p is None for p in parsed):
        return None
    minutes, hours, dom, months, dow = (p or frozenset() for p in parsed)
    dow = frozenset(d % 7 for d in dow)
    dom_any, dow_any = fields[2] == "*", fields[4] == "*"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous: datetime | None = None
    longest = timedelta(0)
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.month not in months:
            continue
        on_dom, on_dow = day.day in dom, (day.isoweekday() % 7) in dow
        # cron: with both day fields restricted, either one matching is enough
        matches = on_dom and on_dow if dom_any or dow_any else on_dom or on_dow
        if not matches:
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                fired = day.replace(hour=hour, minute=minute)
                if previous is not None:
                    longest = max(longest, fired - previous)
                previous = fired
    return longest if previous is not None and longest > timedelta(0) else None
