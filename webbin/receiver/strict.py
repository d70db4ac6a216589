"""The strict pydantic base of webbin's typed bodies, and validation errors people can read.

Bin settings and API bodies arrive as JSON from anyone who knows a bin id, so every model
is closed (an unknown key is an error, not silently dropped) and strict (``"5"`` is not 5,
``true`` is not 1). :class:`InvalidInput` turns pydantic's errors into one sentence per
field, each naming the field's path (``response.default.headers[0]``), for the API's
``errors`` list and the dashboard's flash messages alike.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """Closed and strict; in serialisation schemas, fields with defaults are required
    (they are always present in what webbin sends back)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_serialization_defaults_required=True,
    )


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A field of a partial update: left out means "unchanged", so it has no default value
    to document, and ``null`` is refused unless the field's type allows it."""
    return Field(default=None, description=description, json_schema_extra=_drop_default)


def invalid(message: str) -> PydanticCustomError:
    """An error for a custom check; ``message`` reads after the field's path."""
    return PydanticCustomError("invalid", message)


def _storable(value: str) -> str:
    """Text that every database can store: no NUL (PostgreSQL refuses it) and no lone
    surrogates (a JSON ``"\\ud800"`` escape cannot be encoded as UTF-8)."""
    if "\0" in value:
        raise invalid("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("must be valid Unicode (no unpaired surrogates)") from None
    return value


# A string that can be stored as given.
Text = Annotated[str, AfterValidator(_storable)]


def bounded_int(low: int, high: int, description: str) -> Any:
    """An integer from ``low`` to ``high``, documented as such, with one plain message."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise invalid(f"must be an integer from {low} to {high}")
        return value

    # WithJsonSchema, not Field(json_schema_extra=...), so that it composes with absent().
    return Annotated[
        int,
        AfterValidator(check),
        WithJsonSchema(
            {"type": "integer", "minimum": low, "maximum": high, "description": description}
        ),
    ]


def path_of(loc: tuple[int | str, ...]) -> str:
    """``("response", "default", "headers", 0)`` -> ``response.default.headers[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_SHOULD = re.compile(r"^(?:Input|String|List|Tuple|Value|Dictionary|Object) should\b")


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object"
    if kind == "invalid":
        return error["msg"]
    text = _SHOULD.sub("must", error["msg"]).replace(" after validation", "")
    return text.removeprefix("Value error, ")


class InvalidInput(ValueError):
    """Input that failed validation: ``errors`` holds ``{"path", "message"}`` per problem;
    ``str()`` is all of them in one readable line."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__(
            " ".join(
                f"{e['path']} {e['message']}." if e["path"] else f"{e['message']}." for e in errors
            )
        )

    @classmethod
    def from_validation(cls, error: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidInput:
        return cls(
            [
                {"path": path_of((*prefix, *e["loc"])), "message": _message(e)}
                for e in error.errors(include_url=False)
            ]
        )


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, prefix: tuple[str, ...] = ()) -> M:
    """``data`` as ``model``, or :class:`InvalidInput` with paths under ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput.from_validation(error, prefix) from None
