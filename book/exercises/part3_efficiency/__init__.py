"""Exercise checkers of Part III (Efficiency and capabilities).

One module per notebook of ``part3_efficiency/``, named like it.
"""
