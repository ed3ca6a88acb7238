"""An area of papers.

Its introduction runs over more than one line, and [links](missing.py) to a file that is not there.
"""
