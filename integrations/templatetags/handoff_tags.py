"""The detail pane's hand-off section, so the inbox's template includes it with one line and the inbox's
views need not know about hand-offs."""

from __future__ import annotations

from typing import Any

from django import template

from inbox.selectors import MentionDetail
from integrations.handoff.selectors import mention_handoffs

register = template.Library()


@register.inclusion_tag("integrations/_mention_handoffs.html", takes_context=True)
def mention_handoffs_section(context: template.Context, detail: MentionDetail) -> dict[str, Any]:
    """The section for the detail pane's mention: the pane's selector read it as the user may see it and
    knows whether they may work it."""
    request = context["request"]
    section = mention_handoffs(user=request.user, mention=detail.mention, seen=True, can_work=detail.can_work)
    return {"section": section, "request": request, "csrf_token": context.get("csrf_token")}
