# \begin{align}
# a &= b \\
# \hat{v}_t &= \theta_{t-1} + \frac{c}{d}
# \end{align}
x = 1
