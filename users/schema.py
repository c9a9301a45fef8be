"""Describes ApiTokenAuthentication in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'A personal API token with the prefix "Token", e.g. `Authorization: Token so_…`. Create one '
                "on your account page or with POST /api/v1/auth/token/."
            ),
        }
