"""Relational reasoning and graph networks."""
