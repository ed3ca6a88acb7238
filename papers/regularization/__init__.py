"""Regularisation."""
