"""Request bodies checked alike for HTTP and AdminService: a pydantic model's verdict as
the InvalidArgument both turn into a 400 / INVALID_ARGUMENT naming the field."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InvalidArgument

Model = TypeVar("Model", bound=BaseModel)


def checked_body(model: type[Model], fields: dict[str, object], whole: str) -> Model:
    """`fields` as `model` checks them; InvalidArgument naming the first bad field (`whole`
    when the error is about the body itself)."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else whole
        raise InvalidArgument(f"{field}: {first['msg']}", field=field) from None
