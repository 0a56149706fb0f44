"""Exercise checkers of Part V (generative models and theory).

One module per notebook of ``part5_generative/``, named like it.
"""
