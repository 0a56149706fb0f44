"""Exercise checkers of Part I (Foundations).

One module per notebook of ``part1_foundations/``, named like it.
"""
