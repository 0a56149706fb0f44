"""Loaded by Python at start-up when this folder is on ``PYTHONPATH``.

The test run (``conftest.py``) puts it there, so that every notebook kernel,
and every process a notebook starts, runs with the network guard installed.
"""

import netguard

netguard.install()
