"""A tiny name -> callable registry, so the CLI can list and look up parts by name."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from ganforge.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to real callables (models, losses, data sets, metrics)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            self._docs[name] = doc if doc is not None else (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}") from None

    def doc(self, name: str) -> str:
        return self._docs[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
