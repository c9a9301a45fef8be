"""Outbound integrations: webhook subscriptions and their deliveries, CRM hand-offs, chat notifiers."""

from __future__ import annotations
