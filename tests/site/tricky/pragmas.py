#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# pylint: disable=invalid-name
"""Pragmas on their own lines stay code; the shebang and coding lines too."""
# type: ignore
import os  # noqa: F401
# noqa
# fmt: off
x = [1,2,3]
# fmt: on
# isort: skip
# Prose after the pragmas.
y = x  # type: list[int]
