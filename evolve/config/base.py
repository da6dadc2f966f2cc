"""The ground floor of the settings: one strict base model and the one error type.

Every settings table is a ``StrictModel``: frozen (a resolved config cannot drift while a
run uses it) and closed (an unknown key is an error that names it, so a typo never falls
back to a default silently). ``updated`` is the single way options override fields: the
CLI, ``resume`` and the tests all go through it, so every override is validated.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound="StrictModel")


class ConfigError(Exception):
    """A problem or run configuration is invalid; the message names the file, the field and the fix."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def updated(self: M, **values: Any) -> M:
        """A validated copy with the non-None ``values`` replacing fields (None means 'not given')."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        return type(self).model_validate({**self.model_dump(), **values})
