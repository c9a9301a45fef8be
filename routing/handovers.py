"""Brand accounts changing team: hand-overs, give-backs and the crisis playbook's take-over.

A brand account changes team only by a hand-over both sides agree to: its team's lead offers it, or another
team's lead asks for it, and the other side's lead (or an admin) accepts or declines; the side that started
it may withdraw it while it waits. The one exception is the crisis playbook: while crisis mode is on, the
lead of the crisis-management segment's team takes any account at once, and the team that owned it is told
live and sees it on its page. The account's team is what routing sends its posts to, so this lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels.models import Channel, Segment
from foundation.access import may_lead
from foundation.events import event_record
from foundation.live import event_publish
from routing.models import RoutingSettings
from teams.models import ChannelHandover, Team
from teams.roles import actor_of
from teams.services import TeamActionError, check_lead

CRISIS_SEGMENT = "crisis-management"  # the segment whose team may take accounts at once in crisis mode


def _locked_channel(channel: Channel) -> Channel:
    return Channel.objects.select_for_update().select_related("segment").get(pk=channel.pk)


def _team_name(team_id: int) -> str:
    return Team.objects.filter(pk=team_id).values_list("name", flat=True).first() or "another team"


def _owner_set(*, channel: Channel, team_id: int, keep: ChannelHandover | None = None) -> None:
    """Write the owning team (in the caller's transaction, channel locked) and close what it makes moot:
    other hand-overs of the account still waiting, and a crisis take-over it ends."""
    channel.team_override_id = None if channel.segment.team_id == team_id else team_id
    channel.save(update_fields=["team_override"])
    open_ones = ChannelHandover.objects.filter(
        channel=channel, state__in=(ChannelHandover.State.PENDING, ChannelHandover.State.TAKEN)
    )
    if keep is not None:
        open_ones = open_ones.exclude(pk=keep.pk)
    open_ones.update(state=ChannelHandover.State.SUPERSEDED, decided_at=timezone.now())


def _handover_audit(actor: Any, verb: str, handover: ChannelHandover, **after: Any) -> None:
    event_record(
        actor=actor,
        verb=verb,
        obj=handover.channel,
        before={"team": handover.from_team_id},
        after={
            "handover": handover.pk,
            "kind": handover.kind,
            "state": handover.state,
            "from_team": handover.from_team_id,
            "to_team": handover.to_team_id,
            **after,
        },
    )


def channel_handover_offer(*, actor: Any, team: Team, channel: Channel, to_team: Team) -> ChannelHandover:
    """The team's lead offers one of its brand accounts to another team; it moves when that team accepts."""
    check_lead(actor, team)
    if to_team.pk == team.pk:
        raise TeamActionError(f"{channel.handle} already belongs to {team}.")
    with transaction.atomic():
        channel = _locked_channel(channel)
        if channel.owning_team_id != team.pk:
            raise TeamActionError(f"{channel.handle} does not belong to {team}: only its team can offer it.")
        return _handover_open(
            actor=actor, channel=channel, kind=ChannelHandover.Kind.OFFER, from_team=team, to_team=to_team
        )


def channel_handover_request(*, actor: Any, team: Team, channel: Channel) -> ChannelHandover:
    """The team's lead asks for another team's brand account; it moves when that team's lead accepts."""
    check_lead(actor, team)
    with transaction.atomic():
        channel = _locked_channel(channel)
        if channel.owning_team_id == team.pk:
            raise TeamActionError(f"{channel.handle} already belongs to {team}.")
        owner = Team.objects.get(pk=channel.owning_team_id)
        return _handover_open(
            actor=actor, channel=channel, kind=ChannelHandover.Kind.REQUEST, from_team=owner, to_team=team
        )


def _handover_open(
    *, actor: Any, channel: Channel, kind: str, from_team: Team, to_team: Team
) -> ChannelHandover:
    if ChannelHandover.objects.filter(
        channel=channel, to_team=to_team, state=ChannelHandover.State.PENDING
    ).exists():
        raise TeamActionError(f"A hand-over of {channel.handle} to {to_team} is already waiting.")
    handover = ChannelHandover.objects.create(
        channel=channel, kind=kind, from_team=from_team, to_team=to_team, requested_by=actor
    )
    verb = "channel.handover_offered" if kind == ChannelHandover.Kind.OFFER else "channel.handover_requested"
    _handover_audit(actor, verb, handover)
    return handover


def _locked_pending(handover: ChannelHandover) -> ChannelHandover:
    locked = (
        ChannelHandover.objects.select_for_update()
        .select_related("channel__segment", "from_team", "to_team")
        .get(pk=handover.pk)
    )
    if locked.state != ChannelHandover.State.PENDING:
        raise TeamActionError(f"This hand-over is no longer waiting ({locked.get_state_display().lower()}).")
    return locked


def channel_handover_accept(*, actor: Any, handover: ChannelHandover) -> ChannelHandover:
    """The answering team's lead (or an admin) accepts: the account moves to the receiving team."""
    with transaction.atomic():
        handover = _locked_pending(handover)
        _check_answering_lead(actor, handover)
        channel = _locked_channel(handover.channel)
        if channel.owning_team_id != handover.from_team_id:
            raise TeamActionError(
                f"{channel.handle} no longer belongs to {handover.from_team}; "
                "decline or withdraw this hand-over."
            )
        handover.channel = channel
        handover.state = ChannelHandover.State.ACCEPTED
        handover.decided_by = actor
        handover.decided_at = timezone.now()
        handover.save(update_fields=["state", "decided_by", "decided_at"])
        _owner_set(channel=channel, team_id=handover.to_team_id, keep=handover)
        _handover_audit(actor, "channel.handover_accepted", handover, team=handover.to_team_id)
    return handover


def channel_handover_decline(*, actor: Any, handover: ChannelHandover) -> ChannelHandover:
    """The answering team's lead (or an admin) says no: the account stays where it is."""
    with transaction.atomic():
        handover = _locked_pending(handover)
        _check_answering_lead(actor, handover)
        return _handover_close(actor, handover, ChannelHandover.State.DECLINED, "channel.handover_declined")


def channel_handover_withdraw(*, actor: Any, handover: ChannelHandover) -> ChannelHandover:
    """The team that started the hand-over (its lead, or an admin) takes it back while it waits."""
    with transaction.atomic():
        handover = _locked_pending(handover)
        if not may_lead(actor_of(actor), team_id=handover.initiating_team_id):
            raise TeamActionError("Only a lead of the team that started this hand-over can withdraw it.")
        return _handover_close(actor, handover, ChannelHandover.State.WITHDRAWN, "channel.handover_withdrawn")


def _check_answering_lead(actor: Any, handover: ChannelHandover) -> None:
    if not may_lead(actor_of(actor), team_id=handover.answering_team_id):
        raise TeamActionError(
            f"Only a lead of {_team_name(handover.answering_team_id)} or an admin can answer this hand-over."
        )


def _handover_close(actor: Any, handover: ChannelHandover, state: str, verb: str) -> ChannelHandover:
    handover.state = state
    handover.decided_by = actor
    handover.decided_at = timezone.now()
    handover.save(update_fields=["state", "decided_by", "decided_at"])
    _handover_audit(actor, verb, handover)
    return handover


def crisis_team_id() -> int | None:
    """The team that may take accounts at once while crisis mode is on: the crisis-management segment's."""
    return Segment.objects.filter(slug=CRISIS_SEGMENT).values_list("team_id", flat=True).first()


def crisis_take_allowed(*, team: Team) -> bool:
    return team.pk == crisis_team_id() and RoutingSettings.current().crisis_mode


def channel_crisis_take(*, actor: Any, team: Team, channel: Channel) -> ChannelHandover:
    """The crisis playbook: while crisis mode is on, the crisis team's lead takes any account at once. The
    team that owned it is told live and sees it on its page until the account changes hands again."""
    check_lead(actor, team)
    if not crisis_take_allowed(team=team):
        raise TeamActionError(
            "Only the crisis team's lead can take an account at once, and only while crisis mode is on; "
            "ask its team for it instead."
        )
    with transaction.atomic():
        channel = _locked_channel(channel)
        if channel.owning_team_id == team.pk:
            raise TeamActionError(f"{channel.handle} already belongs to {team}.")
        handover = ChannelHandover.objects.create(
            channel=channel,
            kind=ChannelHandover.Kind.CRISIS,
            state=ChannelHandover.State.TAKEN,
            from_team_id=channel.owning_team_id,
            to_team=team,
            requested_by=actor,
            decided_by=actor,
            decided_at=timezone.now(),
        )
        _owner_set(channel=channel, team_id=team.pk, keep=handover)
        _handover_audit(actor, "channel.crisis_taken", handover, team=team.pk)
        payload = {
            "ids": [],
            "teams": [handover.from_team_id, team.pk],
            "channel": channel.pk,
            "handover": handover.pk,
            "from_team": handover.from_team_id,
            "to_team": team.pk,
            "actor": actor.get_username(),
            "message": (
                f"{channel.handle} was taken by {team} during crisis mode at "
                f"{timezone.localtime(handover.decided_at):%H:%M}."
            ),
        }
        transaction.on_commit(lambda: event_publish("channel.crisis_taken", payload))
    return handover


def channel_release_target(*, channel: Channel) -> int:
    """Where "give back" sends an account: the team a crisis take-over took it from, else its segment's
    team."""
    taken_from = (
        ChannelHandover.objects.filter(channel=channel, state=ChannelHandover.State.TAKEN)
        .values_list("from_team_id", flat=True)
        .first()
    )
    return taken_from or channel.segment.team_id


def channel_release(*, actor: Any, team: Team, channel: Channel) -> Channel:
    """The team gives back an account it holds by hand: to the team a crisis take-over took it from, else to
    its segment's team. Giving away what is yours needs nobody's agreement."""
    check_lead(actor, team)
    with transaction.atomic():
        channel = _locked_channel(channel)
        if channel.team_override_id != team.pk:
            raise TeamActionError(
                f"{channel.handle} is not assigned to {team} by hand; there is nothing to give back."
            )
        target = channel_release_target(channel=channel)
        _owner_set(channel=channel, team_id=target)
        event_record(
            actor=actor,
            verb="channel.team_released",
            obj=channel,
            before={"team": team.pk},
            after={"team": target},
        )
    return channel


# --- What the team page shows of its accounts and hand-overs -----------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    """A brand account on its team's page; ``give_back_to`` is set when the team holds it by hand."""

    channel: Channel
    give_back_to: Team | None


def team_accounts(*, team: Team) -> list[AccountRow]:
    """The team's brand accounts, each with where "give back" would send it when the team holds it by hand:
    the team a crisis take-over took it from, else its segment's team."""
    channels = list(
        Channel.objects.filter(Q(team_override=team) | Q(team_override=None, segment__team=team))
        .select_related("segment__team")
        .order_by("handle")
    )
    taken_from = {
        h.channel_id: h.from_team
        for h in ChannelHandover.objects.filter(
            channel__in=channels, state=ChannelHandover.State.TAKEN, to_team=team
        ).select_related("from_team")
    }
    return [
        AccountRow(c, taken_from.get(c.pk, c.segment.team) if c.team_override_id == team.pk else None)
        for c in channels
    ]


@dataclass(frozen=True)
class TeamHandovers:
    """What the team page shows of hand-overs: those waiting for this team's answer, those it started and
    that wait for the other team, and its accounts the crisis team holds."""

    to_answer: list[ChannelHandover]
    started: list[ChannelHandover]
    taken_in_crisis: list[ChannelHandover]


def team_handovers(*, team: Team) -> TeamHandovers:
    Kind = ChannelHandover.Kind
    rows = list(
        ChannelHandover.objects.filter(
            Q(from_team=team) | Q(to_team=team),
            state__in=(ChannelHandover.State.PENDING, ChannelHandover.State.TAKEN),
        )
        .select_related("channel__segment", "from_team", "to_team", "requested_by")
        .order_by("created_at", "id")
    )
    pending = [h for h in rows if h.state == ChannelHandover.State.PENDING]
    return TeamHandovers(
        to_answer=[h for h in pending if h.answering_team_id == team.pk],
        started=[h for h in pending if h.initiating_team_id == team.pk],
        taken_in_crisis=[h for h in rows if h.kind == Kind.CRISIS and h.from_team_id == team.pk],
    )


def team_handover_get(*, team: Team, handover_id: int, answering: bool) -> ChannelHandover:
    """A waiting hand-over this team answers (accept, decline) or, with ``answering`` false, started
    (withdraw). Any other id, another team's included, raises ``ChannelHandover.DoesNotExist``."""
    Kind = ChannelHandover.Kind
    if answering:
        side = Q(kind=Kind.OFFER, to_team=team) | Q(kind=Kind.REQUEST, from_team=team)
    else:
        side = Q(kind=Kind.OFFER, from_team=team) | Q(kind=Kind.REQUEST, to_team=team)
    return (
        ChannelHandover.objects.filter(side, state=ChannelHandover.State.PENDING)
        .select_related("channel", "from_team", "to_team")
        .get(pk=handover_id)
    )
