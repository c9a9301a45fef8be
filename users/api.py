"""POST /api/v1/auth/token/: a new API token for a username and password (scripts' way in)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.services import api_token_create
from users.sign_in import SignInLock, client_address, sign_in_check, sign_in_failed, sign_in_succeeded


class TokenObtainIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only once.")
    name = serializers.CharField()
    expires_at = serializers.DateTimeField()


_DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})


def _locked(lock: SignInLock) -> Response:
    return Response(
        {"detail": lock.message},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(lock.minutes * 60)},
    )


class TokenObtainApi(APIView):
    """Each call creates a new token named "API sign-in <date>" with the default lifetime."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenObtainIn,
        responses={
            200: TokenOut,
            400: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(_DETAIL, description="Too many failed sign-ins: try again later."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = TokenObtainIn(data=request.data)
        data.is_valid(raise_exception=True)
        username, password = data.validated_data["username"], data.validated_data["password"]
        address = client_address(request)
        lock = sign_in_check(username=username, address=address)
        if lock is not None:
            return _locked(lock)
        user = authenticate(request, username=username, password=password)
        if user is None:
            lock = sign_in_failed(username=username, address=address)
            if lock is not None:
                return _locked(lock)
            return Response(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        sign_in_succeeded(username=username, address=address)
        name = f"API sign-in {timezone.localtime():%Y-%m-%d %H:%M}"
        token, key = api_token_create(user=user, name=name)
        return Response(TokenOut({"token": key, "name": token.name, "expires_at": token.expires_at}).data)
