"""The literate-programming renderer of the site: Python files become pages of prose beside code."""
