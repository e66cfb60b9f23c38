"""The building blocks of the config's sections (bot/config/models.py): the `Section` base
with its "[section] key …" checks, the list and price types, and `Secret`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
)


class Secret:
    """A secret value that never shows up in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


def _list_to_tuple(value: Any) -> Any:
    # TOML arrays arrive as lists; strict mode would refuse them for a tuple.
    return tuple(value) if isinstance(value, list) else value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be 0 or more.")
    return value


StrList = Annotated[tuple[str, ...], BeforeValidator(_list_to_tuple)]
IntList = Annotated[tuple[int, ...], BeforeValidator(_list_to_tuple)]
Price = Annotated[float, AfterValidator(_not_negative)]
Check = tuple[Callable[[Any], bool], str]


class Section(BaseModel):
    """A config table: immutable, strictly typed, unknown keys refused.

    `checks` maps a key to (rule, problem): when the rule fails, `problem` (with `{value}`)
    completes the line "[section] key …"."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    checks: ClassVar[dict[str, Check]] = {}

    @field_validator("*")
    @classmethod
    def _apply_checks(cls, value: Any, info: ValidationInfo) -> Any:
        check = cls.checks.get(info.field_name or "")
        if check is not None and not check[0](value):
            raise ValueError(check[1].format(value=value))
        return value
