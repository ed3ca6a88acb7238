"""Annotated PyTorch implementations of deep-learning papers; each module is one page of the site."""
