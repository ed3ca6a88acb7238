# Fine: $x$.
x = 1

# The update:
#
# $$
# a = b \\
# c = \frac{d
# $$
y = 2
