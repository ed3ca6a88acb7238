"""Comments deep inside blocks and right after a def line."""


def f(x):
    # Right after the def line: prose, the def stays above in the code.
    if x:
        # Inside an if.
        return 1
    else:
        # Inside an else, then a blank line.

        return 2


class C:
    # A comment as the first thing in a class body.
    a = 1
    # And before a method.

    def m(self):
        return self.a
