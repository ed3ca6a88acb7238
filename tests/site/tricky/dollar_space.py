# Dilations for $i = 1, \dots, $ `max_layers`.
x = 1
