"""The hand-off in the REST API: hand a mention off to a CRM or helpdesk, and list its cases. Mounted under
``/api/v1/mentions/<id>/hand-offs/`` beside the inbox's triage actions, with the same access rules: a mention
the user may not see is a 404, a refusal a 400 saying why."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.api import NOT_FOUND, REFUSED, InboxApi, _mention, _parse
from integrations.handoff.services import HandOffError, mention_hand_off
from integrations.models import HandOff, HandOffIntegration


class HandOffIn(serializers.Serializer):
    integration = serializers.SlugField(help_text="The slug of an active hand-off integration.")


class HandOffOut(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = HandOff
        fields = [
            "id",
            "integration",
            "state",
            "external_id",
            "external_url",
            "external_status",
            "is_closed",
            "error",
            "attempts",
            "created_at",
            "linked_at",
        ]


class MentionHandOffsApi(InboxApi):
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, HandOffError):
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="mentions_hand_offs_list",
        summary="The mention's cases in CRMs and helpdesks",
        responses={200: HandOffOut(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        handoffs = HandOff.objects.filter(mention=mention).select_related("integration").order_by("pk")
        return Response(HandOffOut(handoffs, many=True).data)

    @extend_schema(
        operation_id="mentions_hand_off",
        summary="Hand off to a CRM or helpdesk",
        description="A worker creates the case: the answer says `pending`; `linked` (with the case id and "
        "URL) or `failed` (with why) follows, as the list and the `mention.case_linked` event show.",
        request=HandOffIn,
        responses={
            201: HandOffOut,
            400: REFUSED,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, mention_id: int) -> Response:
        mention = _mention(request, mention_id)
        slug = _parse(HandOffIn, request.data)["integration"]
        integration = HandOffIntegration.objects.filter(slug=slug, is_active=True).first()
        if integration is None:
            return Response(
                {"detail": f"No active hand-off integration {slug!r}."}, status=status.HTTP_400_BAD_REQUEST
            )
        handoff = mention_hand_off(actor=request.user, mention=mention, integration=integration)
        return Response(HandOffOut(handoff).data, status=status.HTTP_201_CREATED)
