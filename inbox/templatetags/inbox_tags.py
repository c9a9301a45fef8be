"""Small display helpers for the inbox templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def words(value: str) -> str:
    """An identifier as words: ``support_question`` → ``support question``."""
    return str(value or "").replace("_", " ").replace("-", " ")
