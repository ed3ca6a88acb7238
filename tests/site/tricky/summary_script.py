"""
---
title: A summary with a script
summary: 'A "quoted" word"><script>alert(1)</script>'
---
"""
x = 1
