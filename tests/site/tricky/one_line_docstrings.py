"""One-line docstrings next to code stay in the code column; alone on their line they are prose."""


def f(): """A docstring on the def line: code."""; return 1


class A: """A class docstring on the class line: code."""


def g():
    """Alone on its line: prose."""  # a trailing comment keeps it in the code
    return 2


def h():
    "Single quotes, alone: prose."
    return 3


def k():
    """Prose."""; x = 1
    return x


def m():
    ("Parenthesised", "not a docstring")
    return 4


def n():
    u"""A u-prefixed docstring is prose too."""
    return 5
