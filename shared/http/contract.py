"""What makes a lowkey service keep its OpenAPI promises: strict JSON bodies, a true
`Allow` on OPTIONS, and Struct schemas that say `additionalProperties: false` and the
cross-field rules a model declares in `__openapi_rules__`.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.json_body import check_nesting, decode_struct

# A model names rules one field's type cannot say as JSON Schema here (e.g. `anyOf` over
# its properties); they are published under `allOf` next to the generated properties.
RULES_ATTR = "__openapi_rules__"


class StrictRequest(Request[Any, Any, Any]):
    """Decodes a JSON body into the handler's `data` type in msgspec's strict mode
    (Litestar's own path is lax: `0` would pass as `false`, `"1"` as `1`), after the
    checks of `shared.http.json_body`."""

    async def json(self) -> Any:
        field = self.route_handler.parsed_data_field
        if field is None or not field.is_subclass_of(msgspec.Struct):
            check_nesting(await self.body())
            return await super().json()
        return decode_struct(await self.body(), field.annotation)


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schemas, plus what the Struct's config and rules promise."""

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Any:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        if rules := getattr(struct, RULES_ATTR, None):
            schema.all_of = list(rules)
        _restore_zero_bounds(struct, schema)
        return schema


_BOUNDS = (
    ("ge", "minimum"),
    ("gt", "exclusive_minimum"),
    ("le", "maximum"),
    ("lt", "exclusive_maximum"),
)


def _restore_zero_bounds(struct: Any, schema: Any) -> None:
    """Litestar drops a bound of 0 from a constrained type inside a union (it tests the
    bound's truth): `Annotated[float, Meta(ge=0)] | UnsetType` would be published without
    its minimum, and clients would send what is refused. Put such bounds back."""
    properties = schema.properties or {}
    for field in msgspec.structs.fields(struct):
        prop = properties.get(field.encode_name)
        if prop is None or not hasattr(prop, "minimum"):
            continue
        for arg in typing.get_args(field.type):
            for meta in getattr(arg, "__metadata__", ()):
                if not isinstance(meta, msgspec.Meta):
                    continue
                for name, attribute in _BOUNDS:
                    bound = getattr(meta, name)
                    if bound is not None and getattr(prop, attribute) is None:
                        setattr(prop, attribute, bound)


def _allowed_methods(app: Litestar) -> dict[str, str]:
    return {
        route.path_format: ", ".join(sorted(route.methods))
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }


def allow_middleware(app: ASGIApp) -> ASGIApp:
    """OPTIONS answers `Allow` with every method of the path. Litestar's automatic OPTIONS
    handler lists only the methods of the first handler registered on a path."""

    by_path: dict[str, str] = {}  # filled on the first OPTIONS, once every route exists

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return
        by_path.update(by_path or _allowed_methods(scope["litestar_app"]))
        allowed = by_path.get(scope["path_template"])

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed is not None:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allowed.encode())]}
            await send(message)

        await app(scope, receive, send_allow)

    return middleware
