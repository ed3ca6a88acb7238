NAME = "missing.py"


# See [h](missing.py).
x = 1
