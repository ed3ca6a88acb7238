"""Transformers and attention."""
