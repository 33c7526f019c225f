"""Checks of plain setting values shared by the argument dataclasses (standard library only, so `--help` needs no
torch)."""

from __future__ import annotations

from collections.abc import Mapping


def require_positive(values: Mapping[str, int | None], unset: str | None = None) -> None:
    """
    Raise a `ValueError` naming every setting of `values` that is not an integer >= 1.

    Args:
        values (`Mapping[str, int | None]`): setting name -> value.
        unset (`str`, *optional*): what `None` means for these settings (e.g. `"no limit"`); `None` is then allowed
            and the message says so. Without it, `None` is refused too.
    """

    def fits(value) -> bool:
        if value is None:
            return unset is not None
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    bad = {name: value for name, value in values.items() if not fits(value)}
    if bad:
        listed = ", ".join(f"`{name}`={value!r}" for name, value in bad.items())
        allowed = f" (or unset: {unset})" if unset else ""
        raise ValueError(f"{listed}: must be a positive integer{allowed}; give a count of at least 1.")
