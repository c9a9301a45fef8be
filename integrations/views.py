"""The admins' integration pages: the list of integration kinds, and webhooks (subscriptions, secrets, the
delivery log). To anyone but an admin these pages do not exist (404), as the other admin pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.destinations import DestinationRefused
from integrations.forms import KNOWN_VERBS, WebhookSubscriptionForm
from integrations.models import HandOffIntegration, SlackNotifier, WebhookDelivery, WebhookSubscription
from integrations.webhooks import (
    webhook_delivery_redeliver,
    webhook_secret_rotate,
    webhook_subscription_create,
    webhook_subscription_pause,
    webhook_subscription_resume,
    webhook_subscription_update,
    webhook_test_send,
)
from teams.roles import user_is_admin

LOG_PAGE_SIZE = 50


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors are sent to log in; signed-in non-admins get a 404, so the pages stay unknown."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_is_admin(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


@admin_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The kinds of integration, each with how many are set up."""
    return render(
        request,
        "integrations/index.html",
        {
            "webhooks": WebhookSubscription.objects.count(),
            "webhooks_paused": WebhookSubscription.objects.filter(is_active=False).count(),
            "handoff_systems": HandOffIntegration.objects.filter(is_active=True).count(),
            "slack_notifiers": SlackNotifier.objects.filter(is_active=True).count(),
        },
    )


@admin_required
@require_GET
def webhooks(request: HttpRequest) -> HttpResponse:
    """Every subscription with its state, open deliveries and failures in a row."""
    subscriptions = WebhookSubscription.objects.select_related("team", "segment", "channel").annotate(
        open_deliveries=Count("deliveries", filter=Q(deliveries__state__in=WebhookDelivery.OPEN_STATES))
    )
    return render(request, "integrations/webhooks.html", {"subscriptions": subscriptions})


@admin_required
@require_http_methods(["GET", "POST"])
def webhook_new(request: HttpRequest) -> HttpResponse:
    """Subscribe a URL; the secret is shown once, on the page this answers with."""
    form = WebhookSubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = webhook_subscription_create(actor=request.user, fields=form.fields_value())
        except DestinationRefused as exc:  # DNS changed between the form's check and the service's
            form.add_error("url", f"socialops cannot send to this URL: {exc}.")
        else:
            return _secret_page(request, subscription, secret, created=True)
    return render(request, "integrations/webhook_form.html", {"form": form, "known_verbs": KNOWN_VERBS})


def _secret_page(
    request: HttpRequest, subscription: WebhookSubscription, secret: str, *, created: bool
) -> HttpResponse:
    response = render(
        request,
        "integrations/webhook_secret.html",
        {"subscription": subscription, "secret": secret, "created": created},
    )
    response["Cache-Control"] = "no-store"  # the secret is on this page only, never in a cache
    return response


@admin_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    form = WebhookSubscriptionForm(
        request.POST or None, initial=WebhookSubscriptionForm.initial_for(subscription)
    )
    if request.method == "POST" and form.is_valid():
        try:
            webhook_subscription_update(
                actor=request.user, subscription=subscription, fields=form.fields_value()
            )
        except DestinationRefused as exc:
            form.add_error("url", f"socialops cannot send to this URL: {exc}.")
        else:
            messages.success(request, f"Saved {subscription.name}.")
            return redirect("integrations:webhook", pk=subscription.pk)
    return render(
        request,
        "integrations/webhook_form.html",
        {"form": form, "subscription": subscription, "known_verbs": KNOWN_VERBS},
    )


@admin_required
@require_GET
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A subscription's settings and its delivery log, newest first."""
    subscription = get_object_or_404(
        WebhookSubscription.objects.select_related("team", "segment", "channel", "created_by"), pk=pk
    )
    deliveries = subscription.deliveries.order_by("-id")
    state = request.GET.get("state", "")
    if state in WebhookDelivery.State.values:
        deliveries = deliveries.filter(state=state)
    page = Paginator(deliveries, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/webhook_detail.html",
        {
            "subscription": subscription,
            "page": page,
            "state": state,
            "states": WebhookDelivery.State.choices,
        },
    )


@admin_required
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    secret = webhook_secret_rotate(actor=request.user, subscription=subscription)
    return _secret_page(request, subscription, secret, created=False)


@admin_required
@require_POST
def webhook_pause(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    if webhook_subscription_pause(actor=request.user, subscription=subscription, reason="Paused by hand."):
        messages.success(request, f"Paused {subscription.name}: nothing is sent until you resume it.")
    else:
        messages.info(request, f"{subscription.name} was paused already.")
    return redirect("integrations:webhook", pk=subscription.pk)


@admin_required
@require_POST
def webhook_resume(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    if webhook_subscription_resume(actor=request.user, subscription=subscription):
        messages.success(request, f"Resumed {subscription.name}: its waiting deliveries are sent now.")
    else:
        messages.info(request, f"{subscription.name} was not paused.")
    return redirect("integrations:webhook", pk=subscription.pk)


@admin_required
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    webhook_test_send(actor=request.user, subscription=subscription)
    messages.success(request, "A test event is on its way; its delivery shows below.")
    return redirect("integrations:webhook", pk=subscription.pk)


@admin_required
@require_POST
def webhook_redeliver(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_pk, subscription_id=pk)
    webhook_delivery_redeliver(actor=request.user, delivery=delivery)
    messages.success(request, f"Delivery {delivery.pk} is sent again.")
    return redirect("integrations:webhook", pk=pk)
