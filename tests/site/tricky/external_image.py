# A figure from elsewhere:
#
# ![figure](https://example.com/figure.png)
x = 1
