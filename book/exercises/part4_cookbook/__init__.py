"""Exercise checkers of Part IV (the PyTorch cookbook).

One module per notebook of ``part4_cookbook/``, named like it.
"""
