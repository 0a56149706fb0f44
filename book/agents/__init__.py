"""Agents (p6-6): tool calls as validated JSON, a sandboxed file tool, the agent loop, and a
defence against prompt injection in tool output.

- :mod:`book.agents.tools`: JSON Schemas generated from Python signatures, a tool registry with an
  allow-list, validation of tool calls with ``jsonschema`` (p6-6.1).
- :mod:`book.agents.sandbox`: a file tool confined to one directory, and budgets on steps and calls (p6-6.3).
- :mod:`book.agents.loop`: plan, act, observe, reflect and retry, stop; scripted policies; traces (p6-6.2).
- :mod:`book.agents.injection`: tool output marked as data, instruction-like content quarantined (p6-6.4).
"""
