r"""Strings that look like comments, docstrings and HTML.

A `#` in a string never starts a comment, and three double quotes inside single quotes are just text.
"""

hash_in_string = "# not a comment"
single = '# not a comment either'
triple_in_single = '"""'
mixed = "'''" + '"""'
html = "<script>alert('x')</script></div><div>"
closing_tags = '</pre></code></section>'

multi = """
# this line is inside a string
</div>
# and so is this one
"""

# A real comment after all of that.
fstring = f"{hash_in_string} # still a string {len(html)}"
raw = r"\frac{a}{b} # raw"
byte = b"# bytes"
concatenated = ("# one"
                # a comment inside brackets is code
                "# two")
escaped_quote = "say \"# hi\""
