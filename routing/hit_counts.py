"""How often each rule fired lately, for the rules page.

Routing does not count its own hits: the reports app, a floor above, already tallies the rules that fired
per day and team from the domain events. It hands routing the function that reads that tally
(``rule_hits_reader_register``, from its ``AppConfig.ready``), so routing's pages read the counts without
importing an app above them and without scanning mentions. With no reader registered the page shows none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

HIT_WINDOWS_DAYS = (7, 30)  # the windows the rules page shows: the last week and the last month

# (rule ids, windows in days) -> {rule id: {window: hits}}; n days: today (UTC) and the n-1 days before.
RuleHitsReader = Callable[[Sequence[int], Sequence[int]], Mapping[int, Mapping[int, int]]]

_reader: RuleHitsReader | None = None


def rule_hits_reader_register(reader: RuleHitsReader | None) -> None:
    """Make ``reader`` the source of the rules' hit counts (None: no counts)."""
    global _reader
    _reader = reader


def rule_hits(
    *, rule_ids: Sequence[int], windows_days: Sequence[int] = HIT_WINDOWS_DAYS
) -> dict[int, tuple[int, ...]] | None:
    """Each rule's hits in each window, in the order of ``windows_days`` (0 where it did not fire); None
    when nothing counts them."""
    if _reader is None:
        return None
    counted = _reader(list(rule_ids), list(windows_days))
    return {
        rule_id: tuple(int(counted.get(rule_id, {}).get(days, 0)) for days in windows_days)
        for rule_id in rule_ids
    }
