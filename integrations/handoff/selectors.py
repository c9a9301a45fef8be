"""What people see of hand-offs: a mention's cases, the integrations they may hand it to, the admin list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import Http404

from inbox.models import Mention
from inbox.selectors import mention_is_workable_by, mentions_visible_to
from integrations.models import HandOff, HandOffIntegration
from teams.roles import user_is_admin


@dataclass(frozen=True)
class MentionHandOffs:
    """The detail pane's hand-off section: the mention's cases and where the user may hand it off."""

    mention: Mention
    handoffs: list[HandOff]
    integrations: list[HandOffIntegration]  # empty when the user may not work the mention
    can_work: bool


def mention_handoffs(
    *, user: Any, mention: Mention, seen: bool = False, can_work: bool | None = None
) -> MentionHandOffs:
    """The hand-offs of a mention the user may see (none for one they may not), and the active integrations
    that take it when the user may work it, minus those it already went to and did not fail.

    ``seen``: the caller read the mention through the inbox's visibility (the detail pane), so it is not
    checked again; ``can_work``: whether the user may work it, when the caller knows already."""
    if not seen and not mentions_visible_to(user=user).filter(pk=mention.pk).exists():
        return MentionHandOffs(mention=mention, handoffs=[], integrations=[], can_work=False)
    handoffs = list(HandOff.objects.filter(mention=mention).select_related("integration", "actor"))
    if can_work is None:
        can_work = mention_is_workable_by(user=user, mention=mention)
    integrations: list[HandOffIntegration] = []
    if can_work:
        taken = [h.integration_id for h in handoffs if h.state != HandOff.State.FAILED]
        integrations = list(
            HandOffIntegration.objects.filter(is_active=True)
            .filter(Q(team=None) | Q(team_id=mention.team_id))
            .exclude(pk__in=taken)
        )
    return MentionHandOffs(mention=mention, handoffs=handoffs, integrations=integrations, can_work=can_work)


def handoff_get(*, user: Any, handoff_id: int) -> HandOff:
    """One hand-off of a mention the user may see; Http404 otherwise."""
    handoff = HandOff.objects.select_related("mention", "integration").filter(pk=handoff_id).first()
    if handoff is None or not mentions_visible_to(user=user).filter(pk=handoff.mention_id).exists():
        raise Http404
    return handoff


def handoff_integrations_for_admin(*, user: Any) -> list[HandOffIntegration]:
    if not user_is_admin(user):
        raise Http404
    return list(HandOffIntegration.objects.select_related("team"))
