r"""
---
title: Only a docstring
summary: A module that is all prose.
---

# Only a docstring

$$E = mc^2$$
"""
