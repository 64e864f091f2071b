"""OpenAPI description of the bearer-token authentication (loaded by RegistryConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer <token>` for pipeline and personal tokens."""

    target_class = "registry.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A pipeline token (one AI system) or a personal token (your roles).",
        }
