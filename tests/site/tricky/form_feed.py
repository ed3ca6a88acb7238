"""Form feeds and a carriage-return line ending.
"""

# Prose after a form feed line.
value = 1

# More prose.
other = 2
