"""Exercise checkers of Part II (The pipeline).

One module per notebook of ``part2_pipeline/``, named like it.
"""
