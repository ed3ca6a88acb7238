r"""
---
title: Decorators
summary: Decorated functions and classes, comments between a decorator and its def, stacked decorators.
---

# Decorators
"""
import functools
from dataclasses import dataclass


# A decorator factory.
def traced(label: str):
    def wrap(function):
        @functools.wraps(function)
        def inner(*args, **kwargs):
            return function(*args, **kwargs)
        return inner
    return wrap


# Stacked decorators; the comment between them stays with the code.
@traced("a")
# between the decorators
@traced("b")
def twice(x: int) -> int:
    """Twice $x$: $2x$."""
    return 2 * x


@dataclass(frozen=True)
class Point:
    """A point $(x, y)$."""
    x: float = 0.0
    y: float = 0.0

    @property
    def norm(self) -> float:
        r"""$\sqrt{x^2 + y^2}$"""
        return (self.x ** 2 + self.y ** 2) ** 0.5

    @staticmethod
    @functools.cache
    def origin() -> "Point":
        return Point()
