import math


def area(r):
    return math.pi * r * r


class Circle:
    def __init__(self, r):
        self.r = r

    def area(self):
        return area(self.r)
