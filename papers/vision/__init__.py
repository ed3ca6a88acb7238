"""Convolutional networks for vision."""
