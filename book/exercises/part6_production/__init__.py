"""Exercise checkers of Part VI (production: serving, the ecosystem, safety, agents, papers).

One module per notebook of ``part6_production/``, named like it.
"""
