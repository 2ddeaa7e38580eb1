"""`Secret`: a string that never shows itself in repr, str, logs or JSON."""

from __future__ import annotations

MASK = "**********"


class Secret:
    """A password, key password or client secret. `get_secret_value()` is the only way to the
    text; repr and str show a mask, and msgspec cannot encode it (no enc_hook knows it), so a
    secret cannot leak through a log line or a JSON answer by accident."""

    __slots__ = ("_text",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a secret is text, not {type(value).__name__}")
        self._text = value

    def get_secret_value(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # pickled whole: the TUI hands its resolved settings to its engine child
        return Secret, (self._text,)
