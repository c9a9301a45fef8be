"""Actions: the only writers of a mention's state (its row, its escalations, its replies' status).

Each action checks who may do it (``foundation.access``, one policy), changes the rows, and records its
domain event (the audit trail) and its live event in the same transaction. Each has a single and a
set-based many form in the same module (``mention_close`` is ``mentions_close`` of one row), with the same
semantics and the same events, so the bulk bar cannot drift from the detail pane:

* ``triage``: assign, close, reopen, snooze and wake, priority, labels, spam, notes, and the bulk bar.
* ``routing``: routing's decisions stored on mentions, re-routes, owner decisions, sentiment corrections.
* ``escalations``: opening, accepting, bouncing and raising escalations.
* ``assignment``: handing queues out, returning mentions to the queue (away, removed from a team).
* ``sla``: the clocks on mentions, warnings and breaches.
* ``replies``: writing, approving, sending replies and what became of them.

Only the ingest (``inbox.services``, ``inbox.bulk_postgresql``) writes mentions besides these (a test
inspects the source: ``tests/test_writers.py``).
"""
