"""The radar's consumer of domain events, which also runs the detector once a minute."""

from __future__ import annotations

from celery import shared_task

from crisis.models import Incident
from crisis.services import CONSUMER, EMAIL_TASK, crisis_events_handle, incident_email_send, radar_tick
from foundation.events import consumer_woke, events_consume

CONSUME_TASK = "crisis.tasks.crisis_consume"
CONSUME_ROUNDS = 20  # batches per run; a longer backlog is left to the next run (beat, or the next wake)


@shared_task(name=CONSUME_TASK, ignore_result=True)
def crisis_consume() -> int:
    """Count the mentions received since the last run, then run the detector for the finished minutes.

    Woken after each ingest's commit and run by beat every 20 seconds (the minute ticks). Safe twice or at
    once: ``events_consume`` moves the position in the transaction that reads the batch, under a row lock,
    so a batch is counted once unless its transaction rolls back after the counters were written (Redis is
    not part of it: a worker killed between the two counts that batch twice, once in a long while); each
    minute's detector run is claimed by one caller (``tick_claim``)."""
    consumer_woke(task=CONSUME_TASK)
    handled = 0
    for _ in range(CONSUME_ROUNDS):
        count = events_consume(consumer=CONSUMER, handle=crisis_events_handle)
        handled += count
        if count == 0:
            break
    radar_tick()
    return handled


# Acknowledged on receipt: a redelivered message would email the leads twice, and a lost one leaves the
# incident on the page, in the banner and in the webhooks and Slack.
@shared_task(name=EMAIL_TASK, acks_late=False)
def incident_email(incident_id: int) -> int:
    """Email the leads of the teams the incident concerns, and the admins, that the radar opened it.
    Running twice sends twice (``alerts_record`` asks once per incident), so the broker does not redeliver."""
    incident = Incident.objects.select_related("segment", "channel").filter(pk=incident_id).first()
    if incident is None:
        return 0
    return incident_email_send(incident=incident)
