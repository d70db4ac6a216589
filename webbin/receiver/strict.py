"""The strict pydantic base of webbin's typed bodies, and validation errors people can read.

Bin settings and API bodies arrive as JSON from anyone who knows a bin id, so every model
is closed (an unknown key is an error, not silently dropped) and strict (``"5"`` is not 5,
``true`` is not 1). :class:`InvalidInput` turns pydantic's errors into one sentence per
field, each naming the field's path (``response.default.headers[0]``), for the API's
``errors`` list and the dashboard's flash messages alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
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


_NO_NUL = "^[^\\u0000]*$"


def text(*checks: Callable[[str], str], **constraints: Any) -> Any:
    """A string every database can store, with pydantic's ``constraints`` (lengths, schema
    extras) checked first and then ``checks``, each raising :func:`invalid` or returning the
    value to keep. A ``pattern`` given in ``json_schema_extra`` must exclude NUL itself."""
    extra = {"pattern": _NO_NUL, **constraints.pop("json_schema_extra", {})}
    return Annotated[
        str,
        Field(**constraints, json_schema_extra=extra),
        AfterValidator(_storable),
        *(AfterValidator(check) for check in checks),
    ]


def _integral(value: Any) -> Any:
    """JSON has one number type, so ``5.0`` is the integer 5 (as JSON Schema says); a
    fraction, a string or a boolean is still refused by the strict int that follows."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def bounded_int(low: int, high: int, description: str) -> Any:
    """An integer from ``low`` to ``high``, documented as such, with one plain message."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise invalid(f"must be an integer from {low} to {high}")
        return value

    # WithJsonSchema, not Field(json_schema_extra=...), so that it composes with absent().
    return Annotated[
        int,
        BeforeValidator(_integral),
        AfterValidator(check),
        WithJsonSchema(
            {"type": "integer", "minimum": low, "maximum": high, "description": description}
        ),
    ]


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_of(loc: tuple[int | str, ...]) -> str:
    """``("response", "default", "headers", 0)`` -> ``response.default.headers[0]``; a key
    that is not a plain name is quoted, e.g. ``signature["x y"]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
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


# Errors reported for one input, and how many of them the message spells out.
MAX_ERRORS = 50
MAX_MESSAGE_ERRORS = 5


class InvalidInput(ValueError):
    """Input that failed validation: ``errors`` holds ``{"path", "message"}`` per problem
    (the first :data:`MAX_ERRORS`); ``str()`` is the first few in one readable line."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors[:MAX_ERRORS]
        sentences = [
            f"{e['path']} {e['message']}." if e["path"] else f"{e['message']}."
            for e in errors[:MAX_MESSAGE_ERRORS]
        ]
        if len(errors) > MAX_MESSAGE_ERRORS:
            sentences.append(f"({len(errors) - MAX_MESSAGE_ERRORS} more problems.)")
        super().__init__(" ".join(sentences))

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
