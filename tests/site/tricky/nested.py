"""Nested functions and classes, each with its docstring and its comments."""


def outer(n: int) -> int:
    """The outer function."""
    total = 0

    # An inner function, defined in the middle of the body.
    def inner(k: int) -> int:
        """The inner function squares."""
        # Deeper still: a comment in the inner body.
        return k * k

    class Counter:
        """A class inside a function."""

        def count(self) -> int:
            """A method of a class inside a function."""
            return n

    for k in range(n):
        # Accumulate.
        total += inner(k)
    return total + Counter().count()


async def fetch(x):
    """An async function."""
    # awaits nothing
    return x
