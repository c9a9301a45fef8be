"""Small display helpers for the inbox templates."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.template.defaultfilters import truncatechars
from django.utils.html import format_html

from channels.connectors.base import avatar_url_checked
from channels.connectors.text import reply_rules

register = template.Library()


@register.simple_tag
def composer_rules(network: str) -> str:
    """The composer's ``data-`` attributes for a network: the limits its connector declares and the name of
    its counting, which ``static/js/inbox.js`` follows as the agent types."""
    rules = reply_rules(network)
    return format_html(
        'data-limit="{}" data-direct-limit="{}" data-counting="{}"',
        rules.limit,
        rules.direct_limit,
        rules.counting,
    )


@register.filter
def words(value: str) -> str:
    """An identifier as words: ``support_question`` → ``support question``."""
    return str(value or "").replace("_", " ").replace("-", " ")


VERBS = {
    "mention.assigned": "assigned it",
    "mention.unassigned": "unassigned it",
    "mention.auto_assigned": "assigned it automatically",
    "mention.returned_to_queue": "returned it to the queue",
    "mention.rerouted": "re-routed it",
    "mention.owner_decided": "decided which team owns it",
    "mention.closed": "closed it",
    "mention.close": "closed it",
    "mention.reopened": "reopened it",
    "mention.reopen": "reopened it",
    "mention.snoozed": "snoozed it",
    "mention.snooze": "snoozed it",
    "mention.woke": "woke it from snooze",
    "mention.labelled": "changed its labels",
    "mention.label": "added labels",
    "mention.prioritized": "changed its priority",
    "mention.priority": "changed its priority",
    "mention.spam": "marked it as spam",
    "mention.not_spam": "said it is not spam",
    "mention.noted": "added a note",
    "mention.routed": "routed it",
    "mention.escalated": "escalated it",
    "reply.queued": "queued a reply",
    "reply.awaiting_approval": "wrote a reply that waits for approval",
    "reply.approved": "approved a reply",
    "reply.rejected": "rejected a reply",
    "reply.retried": "sent a reply again",
    "reply.sent": "sent the reply",
    "reply.failed": "could not send the reply",
    "escalation.accepted": "accepted the escalation",
    "escalation.bounced": "bounced the escalation back",
    "escalation.to_lead": "raised the escalation to the team lead",
    "sla.warning": "warned that the SLA is close",
    "sla.breached": "raised the SLA breach to the team leads",
}


@register.filter
def verb_words(verb: str) -> str:
    """An audit verb as a person would say it: ``mention.closed`` → ``closed it``."""
    return VERBS.get(verb, words(verb.replace(".", " ")))


@register.filter
def ago(when) -> str:
    """``since 5 minutes`` style, but "just now" under a minute."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if when is None:
        return ""
    if (timezone.now() - when).total_seconds() < 60:
        return "just now"
    return f"for {timesince(when)}"


@register.filter
def age(when) -> str:
    """How old a post is, the short way lists show it: "now", "5m", "3h", "2d", "6w" (cheaper than timesince,
    which a 50-row list would call 50 times)."""
    from django.utils import timezone

    if when is None:
        return ""
    seconds = (timezone.now() - when).total_seconds()
    for limit, unit, size in ((3600, "m", 60), (86400, "h", 3600), (86400 * 14, "d", 86400)):
        if seconds < limit:
            return "now" if seconds < 60 else f"{int(seconds // size)}{unit}"
    return f"{int(seconds // (86400 * 7))}w"


@register.filter(is_safe=True)
def clip(value, length: int) -> str:
    """``truncatechars``, without its per-character walk for the texts that fit (most posts): a 50-row list
    would spend milliseconds counting characters it then keeps."""
    text = str(value or "")
    return text if len(text) <= int(length) else truncatechars(text, length)


# The list renders these for every row: plain Python rather than the date filter, which costs several times
# more per call (a 50-row page calls each fifty times).


@register.filter
def iso(when) -> str:
    """ISO 8601 in the current time zone, for ``<time datetime>``."""
    from django.utils import timezone

    return timezone.localtime(when).isoformat() if when else ""


@register.filter
def stamp(when) -> str:
    """``26 Nov 2026, 15:58`` in the current time zone."""
    from django.utils import timezone

    if not when:
        return ""
    local = timezone.localtime(when)
    return f"{local.day} {local:%b %Y, %H:%M}"


@register.filter
def initials(author) -> str:
    """Up to two letters for an author's avatar, from the display name's words or else the handle: "Jo
    Hiker" → "JH", "@cho_m" → "C". Letters only, so an emoji-only name falls back to the handle, then "?"."""
    for source in (author.display_name, author.handle):
        firsts = [next((c for c in word if c.isalpha()), "") for word in str(source or "").split()]
        letters = "".join(firsts)
        if letters:
            return (letters[0] + letters[-1] if len(letters) > 1 else letters).upper()
    return "?"


def avatar_src(url: str) -> str:
    """The address an avatar <img> may load: https, on a host the Content-Security-Policy allows
    (settings.AVATAR_HOSTS); "" otherwise, and the initials stand alone."""
    checked = avatar_url_checked(url)
    if not checked or urlsplit(checked).hostname not in settings.AVATAR_HOSTS:
        return ""
    return checked


@register.simple_tag
def avatar(author, size: int = 40, where: str = "") -> str:
    """An author's avatar: their initials, with the network's image over them when there is one. The image's
    alt is empty and the box is hidden from screen readers: the name is written beside it. An image that
    fails to load is removed by static/js/inbox.js, leaving the initials; with alt="" a failed image shows
    nothing even without the script, so no broken-image icon can appear."""
    src = avatar_src(getattr(author, "avatar_url", ""))
    image = (
        format_html(
            '<img class="avatar__img" src="{}" width="{}" height="{}" alt="" loading="lazy" decoding="async" '
            'referrerpolicy="no-referrer" data-avatar>',
            src,
            size,
            size,
        )
        if src
        else ""
    )
    return format_html(
        '<span class="avatar{}" aria-hidden="true"><span class="avatar__initials">{}</span>{}</span>',
        f" {where}" if where else "",
        initials(author),
        image,
    )


@register.filter
def sla_badge(mention) -> str:
    """The SLA clock of a mention as a badge: what is due and when, amber when warned, red once breached."""
    from django.utils.html import format_html
    from django.utils.timesince import timeuntil

    kind = words(mention.sla_kind).capitalize() or "SLA"
    state = mention.sla_state or "running"
    title = f"{kind} due {stamp(mention.sla_due_at)}"
    text = f"{kind} overdue" if state == "breached" else f"{kind} due in {timeuntil(mention.sla_due_at)}"
    return format_html('<span class="badge sla sla--{}" title="{}">{}</span>', state, title, text)
