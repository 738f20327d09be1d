"""The one name → object table behind every `register_*` / `list_*` / `create_*` family
(model presets, weight sources, losses, miners)."""

from typing import Generic, TypeVar

from distill.errors import DistillError

T = TypeVar("T")


class Registry(Generic[T]):
    """Unique names mapped to objects of one `kind` (used in messages: "unknown loss 'x'")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add `item` under `name`; names are unique."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The object called `name`; a one-line error lists the known names."""
        try:
            return self._items[name]
        except KeyError:
            raise DistillError(f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}") from None
