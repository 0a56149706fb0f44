"""Companion package of the textbook *Machine Learning to LLMs*.

Importing ``book`` is cheap: it defines the version and nothing else. Import
the module you need, e.g. ``from book import env`` or ``from book.data import digits``.
"""

__version__ = "0.1.0"
