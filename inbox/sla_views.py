"""Admin pages for SLA policies: one per segment, in business hours. Only admins reach them (else 404)."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from channels.models import Segment
from channels.views import admin_required
from foundation.events import event_record
from inbox.models import SlaPolicy
from inbox.sla import policy_validate

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class SlaPolicyForm(forms.ModelForm):
    business_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every day.",
    )
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One date per line (YYYY-MM-DD); the clock stops on these days.",
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "enabled",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "warn_before_minutes",
            "timezone",
            "business_days",
            "business_start",
            "business_end",
            "holidays",
        ]
        labels = {
            "enabled": "Policy on",
            "first_response_minutes": "First response (minutes)",
            "next_response_minutes": "Next response (minutes)",
            "resolution_minutes": "Resolution (minutes)",
            "warn_before_minutes": "Warn before a breach (minutes)",
            "timezone": "Time zone",
            "business_start": "Business hours start",
            "business_end": "Business hours end",
        }
        widgets = {
            "business_start": forms.TimeInput(attrs={"type": "time"}),
            "business_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["holidays"] = "\n".join(self.instance.holidays or [])

    def clean_holidays(self) -> list[str]:
        days = []
        for line in self.cleaned_data["holidays"].splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                days.append(date.fromisoformat(line).isoformat())
            except ValueError:
                raise forms.ValidationError(f"{line!r} is not a date: write it as YYYY-MM-DD.") from None
        return sorted(set(days))

    def clean(self) -> dict:
        data = super().clean()
        probe = SlaPolicy(**{name: data.get(name) for name in self.Meta.fields if name not in self.errors})
        for field, message in policy_validate(probe).items():
            if field not in self.errors and field in self.fields:
                self.add_error(field, message)
        return data


@admin_required
def index(request: HttpRequest) -> HttpResponse:
    segments = Segment.objects.select_related("team", "sla_policy").order_by("position", "name")
    return render(request, "sla/index.html", {"segments": segments})


@admin_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, slug: str) -> HttpResponse:
    segment = get_object_or_404(Segment, slug=slug)
    policy = SlaPolicy.objects.filter(segment=segment).first() or SlaPolicy(segment=segment)
    before = {f: str(getattr(policy, f)) for f in SlaPolicyForm.Meta.fields} if policy.pk else {}
    form = SlaPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            policy = form.save()
            event_record(
                actor=request.user,
                verb="sla_policy.saved",
                obj=policy,
                before=before,
                after={f: str(getattr(policy, f)) for f in SlaPolicyForm.Meta.fields},
            )
        messages.success(request, f"SLA policy for {segment.name} saved; new mentions get its clocks.")
        return redirect("sla:index")
    return render(request, "sla/edit.html", {"segment": segment, "form": form})
