"""The admin form of a hand-off integration. Secrets are write-only: left empty, the stored one stays."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from integrations.handoff import generic
from integrations.handoff.generic import DEFAULT_TEMPLATE
from integrations.models import HandOffIntegration
from teams.models import Team


class HandOffIntegrationForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=HandOffIntegration.Kind.choices)
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="Every team",
        help_text="Only this team's mentions can be handed off here.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    # Generic JSON
    url = forms.URLField(
        required=False, max_length=500, label="Endpoint URL (generic)", assume_scheme="https"
    )
    body_template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        initial=DEFAULT_TEMPLATE,
        label="Body template (generic)",
        help_text="JSON with placeholders: {{ mention.text }}, {{ mention.url }}, {{ mention.inbox_url }}, "
        "{{ mention.network }}, {{ mention.intent }}, {{ mention.priority }}, {{ author.handle }}, "
        "{{ author.name }}, {{ team.name }}, {{ actor.name }}. Values are JSON-escaped: put them in quotes.",
    )
    id_pointer = forms.CharField(required=False, initial="/id", label="Case id at (JSON pointer)")
    url_pointer = forms.CharField(required=False, label="Case URL at (JSON pointer)")
    authorization = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Authorization header (generic)",
        help_text="Sent as it is, e.g. 'Bearer …'. Leave empty to keep the stored one.",
    )
    # HubSpot
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Private app access token (HubSpot)",
        help_text="Needs the tickets scope. Leave empty to keep the stored one.",
    )
    portal_id = forms.RegexField(regex=r"^\d*$", required=False, label="Account (portal) id, for links")
    pipeline = forms.CharField(required=False, initial="0", label="Pipeline id")
    stage = forms.CharField(required=False, initial="1", label="Stage id of a new ticket")
    closed_stages = forms.CharField(required=False, label="Closed stage ids (comma-separated)", initial="4")
    properties = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        label="More ticket properties (JSON object)",
        help_text='e.g. {"hs_ticket_priority": "HIGH"}',
    )

    def __init__(self, *args: Any, integration: HandOffIntegration | None = None, **kwargs: Any) -> None:
        if integration is not None and "initial" not in kwargs:
            c = integration.config
            kwargs["initial"] = {
                "name": integration.name,
                "kind": integration.kind,
                "team": integration.team_id,
                "is_active": integration.is_active,
                "url": c.get("url", ""),
                "body_template": c.get("body_template", DEFAULT_TEMPLATE),
                "id_pointer": c.get("id_pointer", "/id"),
                "url_pointer": c.get("url_pointer", ""),
                "portal_id": c.get("portal_id", ""),
                "pipeline": c.get("pipeline", "0"),
                "stage": c.get("stage", "1"),
                "closed_stages": ", ".join(c.get("closed_stages", [])),
                "properties": json.dumps(c["properties"]) if c.get("properties") else "",
            }
        self.integration = integration
        super().__init__(*args, **kwargs)

    def clean_body_template(self) -> str:
        template = self.cleaned_data["body_template"]
        try:
            generic.template_check(template or DEFAULT_TEMPLATE)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return template

    def clean_properties(self) -> dict[str, str]:
        text = self.cleaned_data["properties"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc.msg}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Expected a JSON object of property names and values.")
        return {str(k): str(v) for k, v in value.items()}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        if kind == HandOffIntegration.Kind.GENERIC and not data.get("url"):
            self.add_error("url", "A generic hand-off needs the endpoint's URL.")
        has_token = bool(self.integration and self.integration.secret and self.integration.kind == kind)
        if kind == HandOffIntegration.Kind.HUBSPOT and not data.get("token") and not has_token:
            self.add_error("token", "HubSpot needs a private app's access token.")
        for name in ("id_pointer", "url_pointer"):
            if data.get(name) and not data[name].startswith("/"):
                self.add_error(name, "A JSON pointer starts with '/', e.g. /data/id.")
        return data

    def config(self) -> dict[str, Any]:
        d = self.cleaned_data
        if d["kind"] == HandOffIntegration.Kind.GENERIC:
            return {
                "url": d["url"],
                "body_template": d["body_template"] or DEFAULT_TEMPLATE,
                "id_pointer": d["id_pointer"] or "/id",
                "url_pointer": d["url_pointer"],
            }
        closed = [s.strip() for s in d["closed_stages"].split(",") if s.strip()]
        return {
            "portal_id": d["portal_id"],
            "pipeline": d["pipeline"] or "0",
            "stage": d["stage"] or "1",
            "closed_stages": closed,
            "properties": d["properties"],
        }

    def secret(self) -> dict[str, str]:
        d = self.cleaned_data
        if d["kind"] == HandOffIntegration.Kind.GENERIC:
            return {"authorization": d["authorization"]}
        return {"token": d["token"]}
