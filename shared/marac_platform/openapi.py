"""What the OpenAPI documents say about limits that apispec would otherwise leave out or misstate."""

from __future__ import annotations

from typing import Any

from marshmallow import fields


def dict_sizes(converter: Any, field: fields.Field[Any], ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A `Length` on a `fields.Dict` limits its entries: minProperties/maxProperties, not the
    minLength/maxLength apispec writes for any field that is not a list. Limits on its keys go
    in `x-propertyNames`, as OpenAPI 3.0 has no propertyNames.

    An apispec attribute function (`converter.add_attribute_function`), run after apispec's own.
    """
    if not isinstance(field, fields.Dict):
        return {}
    sizes: dict[str, Any] = {}
    for length, entries in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
        if length in ret:
            sizes[entries] = ret.pop(length)
    if field.key_field is not None:
        keys = converter.field2property(field.key_field)
        names = {k: v for k, v in keys.items() if k in ("minLength", "maxLength", "pattern")}
        if names:
            sizes["x-propertyNames"] = names
    return sizes
