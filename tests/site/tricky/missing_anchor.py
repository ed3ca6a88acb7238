# See [the section](#nowhere).
x = 1
