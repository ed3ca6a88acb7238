# This file has only comments.
#
# ## A heading
#
# With $x^2$ math and a list:
#
# * one
# * two

# A second block after a blank line.
