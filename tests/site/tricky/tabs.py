"""Tabs for indentation."""


class Tabbed:
	"""A class indented with tabs."""

	def method(self):
		# A comment indented with two tabs.
		value = "\t"  # a tab escape in a string
		return value

	def other(self):
		"""A method docstring indented with tabs.

		Second paragraph, also tabbed.
		"""
		return	1
