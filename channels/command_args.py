"""Argument parsing shared by the management commands that work on one channel."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandError

from channels.models import Channel

KNOWN_CHANNELS_SHOWN = 30  # an unknown slug lists the channels there are, but not thousands of them


def positive_int(value: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def channel_from_slug(slug: str) -> Channel:
    """The channel named on the command line, or an error that lists the slugs there are."""
    try:
        return Channel.objects.select_related("segment").get(slug=slug)
    except Channel.DoesNotExist:
        known = list(
            Channel.objects.order_by("slug").values_list("slug", flat=True)[: KNOWN_CHANNELS_SHOWN + 1]
        )
        listing = ", ".join(known[:KNOWN_CHANNELS_SHOWN]) or "none yet"
        if len(known) > KNOWN_CHANNELS_SHOWN:
            listing += ", ..."
        raise CommandError(f"no channel with slug {slug!r}; known channels: {listing}") from None
