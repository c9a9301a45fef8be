"""What team leads (and admins) change about a team: people, capacity, assignment mode, brand accounts.

A lead manages only the teams they lead; admins manage every team. Each change writes an audit event.

A brand account changes team only by a hand-over both sides agree to: its team's lead offers it, or another
team's lead asks for it, and the other side's lead (or an admin) accepts or declines; the side that started
it may withdraw it while it waits. The one exception is the crisis playbook: while crisis mode is on, the
lead of the crisis-management segment's team takes any account at once, and the team that owned it is told
live and sees it on its page.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from channels.models import Channel, Segment
from foundation.access import may_lead
from foundation.events import event_record
from foundation.live import event_publish
from inbox.actions.assignment import mentions_auto_assign, mentions_return_to_queue
from routing.models import RoutingSettings
from teams.models import ChannelHandover, Membership, Team
from teams.roles import actor_of, user_is_admin, user_name

CAPACITY_MAX = 500


class TeamActionError(ValueError):
    """A change this user cannot make, or that makes no sense; the message says why."""


def user_leads(user: Any, team: Team) -> bool:
    return may_lead(actor_of(user), team_id=team.pk)


def _check_lead(actor: Any, team: Team) -> None:
    if not user_leads(actor, team):
        raise TeamActionError(f"Only a lead of {team} or an admin can change it.")


def team_member_add(
    *, actor: Any, team: Team, user: Any, role: str = Membership.Role.AGENT, capacity: int = 20
):
    _check_lead(actor, team)
    if role not in Membership.Role.values:
        raise TeamActionError(f"Unknown role {role!r}.")
    if not 1 <= capacity <= CAPACITY_MAX:
        raise TeamActionError(f"Capacity is between 1 and {CAPACITY_MAX} open mentions.")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            user=user, team=team, defaults={"role": role, "capacity": capacity}
        )
        if not created:
            raise TeamActionError(f"{user_name(user)} is already in {team}.")
        event_record(actor=actor, verb="team.member_added", obj=team, after={"user": user.pk, "role": role})
    return membership


def team_member_update(
    *, actor: Any, membership: Membership, role: str | None = None, capacity: int | None = None
):
    _check_lead(actor, membership.team)
    before = {"role": membership.role, "capacity": membership.capacity}
    if role is not None:
        if role not in Membership.Role.values:
            raise TeamActionError(f"Unknown role {role!r}.")
        if (
            membership.user_id == actor.pk
            and role != Membership.Role.LEAD
            and not user_is_admin(actor)
            and not Membership.objects.filter(team=membership.team, role=Membership.Role.LEAD)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise TeamActionError("A team keeps at least one lead: make someone else lead first.")
        membership.role = role
    if capacity is not None:
        if not 1 <= capacity <= CAPACITY_MAX:
            raise TeamActionError(f"Capacity is between 1 and {CAPACITY_MAX} open mentions.")
        membership.capacity = capacity
    with transaction.atomic():
        membership.save(update_fields=["role", "capacity"])
        event_record(
            actor=actor,
            verb="team.member_changed",
            obj=membership.team,
            before={"user": membership.user_id, **before},
            after={"user": membership.user_id, "role": membership.role, "capacity": membership.capacity},
        )
    return membership


def team_member_remove(*, actor: Any, membership: Membership) -> None:
    """Take someone off a team; their open mentions in it go back to its queue."""
    team = membership.team
    _check_lead(actor, team)
    with transaction.atomic():
        user_id, role = membership.user_id, membership.role
        # Off the team first: the queue is handed out again without them.
        membership.delete()
        returned = mentions_return_to_queue(
            actor=actor, team_id=team.pk, assignee_id=user_id, reason="left the team"
        )
        event_record(
            actor=actor,
            verb="team.member_removed",
            obj=team,
            before={"user": user_id, "role": role},
            after={"returned_to_queue": len(returned)},
        )


def team_assignment_set(*, actor: Any, team: Team, mode: str) -> Team:
    """Choose how the team's queue is handed out; switching to an automatic mode hands out the queue now."""
    _check_lead(actor, team)
    if mode not in Team.Assignment.values:
        raise TeamActionError(f"Unknown assignment mode {mode!r}.")
    with transaction.atomic():
        before = team.assignment
        team.assignment = mode
        team.save(update_fields=["assignment"])
        event_record(
            actor=actor,
            verb="team.assignment_changed",
            obj=team,
            before={"mode": before},
            after={"mode": mode},
        )
        if mode != Team.Assignment.MANUAL:
            mentions_auto_assign(team_ids=[team.pk])
    return team


# --- Brand accounts: hand-overs -------------------------------------------------------------------------

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
    _check_lead(actor, team)
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
    _check_lead(actor, team)
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
    _check_lead(actor, team)
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
    _check_lead(actor, team)
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
