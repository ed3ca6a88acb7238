"""Information, complexity and description length."""
