"""Tool calls as structured JSON, validated against schemas generated from Python signatures.

Taught in p6-6.1. A tool is a typed Python function. :func:`schema_from_function` turns its
signature into a JSON Schema (Draft 2020-12): ``int`` → integer, ``float`` → number, ``str`` →
string, ``bool`` → boolean, ``list[X]`` → array of X, ``Literal[...]`` → enum, ``Optional[X]`` →
X or null, ``Annotated[X, {...}]`` → X's schema plus the extra keywords (a ``pattern``, a
``minimum``); a parameter with a default is optional, one without is required, and no other
field is accepted. A :class:`ToolRegistry` holds the tools, an allow-list of the names a task may
call, and validates a call with ``jsonschema`` before anything runs, with messages that name the
field:

>>> def read_file(path: str, max_bytes: int = 4096) -> str:
...     '''Read a text file.'''
...     return ""
>>> schema_from_function(read_file)["required"]
['path']
>>> reg = ToolRegistry([read_file])
>>> try:
...     reg.validate({"tool": "read_file", "arguments": {"path": 3}})
... except ToolCallError as e:
...     print(e)
arguments.path: expected string, got 3
>>> try:
...     parse_tool_call('{"tool": "read_file",\\n "arguments": {"path": "a.txt"}')
... except ToolCallError as e:
...     print(e)
malformed JSON at line 2, column 32: Expecting ',' delimiter
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean"}


class ToolCallError(ValueError):
    """A tool call that must not run: malformed JSON, an unknown or forbidden tool, bad arguments."""


class ToolError(RuntimeError):
    """A tool ran and failed (a missing file, say); the message goes back to the agent as an observation."""


def type_to_schema(tp: Any, where: str = "type") -> dict:
    """The JSON Schema of one Python type hint (p6-6.1).

    >>> type_to_schema(list[int])
    {'type': 'array', 'items': {'type': 'integer'}}
    >>> type_to_schema(typing.Literal["csv", "json"])
    {'type': 'string', 'enum': ['csv', 'json']}
    """
    if isinstance(tp, type) and tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        base = type_to_schema(args[0], where)
        for extra in args[1:]:
            if not isinstance(extra, Mapping):
                raise TypeError(f"{where}: Annotated metadata must be a dict of JSON Schema keywords, got {extra!r}")
            base.update(extra)
        return base
    if origin is list:
        if len(args) != 1:
            raise TypeError(f"{where}: write list[X] with one item type, got {tp!r}")
        return {"type": "array", "items": type_to_schema(args[0], where)}
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
            return {"type": _SCALARS[next(iter(kinds))], "enum": list(args)}
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == len(args) - 1 and len(members) == 1:      # Optional[X]
            return {"anyOf": [type_to_schema(members[0], where), {"type": "null"}]}
        return {"anyOf": [type_to_schema(a, where) for a in args]}
    raise TypeError(f"{where}: no JSON Schema for the type {tp!r}; use int, float, str, bool, list[...], "
                    "Literal, Optional or Annotated")


def schema_from_function(fn: Callable) -> dict:
    """The JSON Schema of a function's keyword arguments, from its signature and type hints (p6-6.1).

    Every parameter needs a type hint; ``*args``/``**kwargs`` are refused (a schema must list its fields).

    >>> def add(numbers: list[float], round_to: typing.Optional[int] = None) -> float:
    ...     return sum(numbers)
    >>> s = schema_from_function(add)
    >>> s["properties"]["round_to"], s["required"]
    ({'anyOf': [{'type': 'integer'}, {'type': 'null'}], 'default': None}, ['numbers'])
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    props: dict[str, dict] = {}
    required: list[str] = []
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__name__}: parameter '{name}' is *args/**kwargs; a tool's fields must be named")
        if name not in hints:
            raise TypeError(f"{fn.__name__}: parameter '{name}' has no type hint, so it has no schema")
        props[name] = type_to_schema(hints[name], f"{fn.__name__}.{name}")
        if p.default is p.empty:
            required.append(name)
        else:
            props[name]["default"] = p.default
    schema = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def tool_spec(fn: Callable, name: str | None = None) -> dict:
    """The description an LLM is shown: name, the docstring's first line, and the parameter schema."""
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return {"name": name or fn.__name__, "description": doc[0] if doc else "", "parameters": schema_from_function(fn)}


def _kind(x: Any) -> str:
    return json.dumps(x) if isinstance(x, (int, float, bool, type(None))) else repr(x) if isinstance(x, str) \
        else type(x).__name__


def _field(path: Iterable) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out.lstrip(".")


def describe_error(err: jsonschema.ValidationError, root: str = "arguments") -> str:
    """One validation error as ``field: what was expected, what came`` (p6-6.1)."""
    where = _field([root, *err.absolute_path])
    if err.validator == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"{where}: expected {want}, got {_kind(err.instance)}"
    if err.validator == "required":
        missing = [r for r in err.validator_value if r not in err.instance]
        return "; ".join(f"{where}.{m}: required field missing" for m in missing)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return "; ".join(f"{where}.{e}: unexpected field" for e in extra)
    if err.validator == "enum":
        return f"{where}: expected one of {err.validator_value}, got {_kind(err.instance)}"
    if err.validator == "pattern":
        return f"{where}: {_kind(err.instance)} does not match the pattern {err.validator_value!r}"
    if err.validator == "oneOf" and where == "call":
        return "call: needs 'tool' and 'arguments', or 'final', and not both"
    if err.validator == "anyOf":
        kinds = [s.get("type", "?") for s in err.validator_value]
        return f"{where}: expected {' or '.join(kinds)}, got {_kind(err.instance)}"
    return f"{where}: {err.message}"


def validate_arguments(schema: dict, arguments: Any, root: str = "arguments") -> None:
    """Validate with ``jsonschema``'s Draft 2020-12 validator; raise one :class:`ToolCallError` listing every error."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        raise ToolCallError("; ".join(describe_error(e, root) for e in errors))


def parse_tool_call(text: str) -> dict:
    """Parse a model's output as one JSON object; malformed JSON names its line and column (p6-6.1).

    >>> parse_tool_call('{"tool": "add", "arguments": {"numbers": [1, 2]}}')["tool"]
    'add'
    """
    if not isinstance(text, str):
        raise ToolCallError(f"a tool call is JSON text, got {type(text).__name__}")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolCallError(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(obj, dict):
        raise ToolCallError(f"a tool call is a JSON object, got {type(obj).__name__}")
    return obj


# The envelope every model output must have: a scratchpad thought, then either a call or a final answer.
CALL_SCHEMA = {
    "type": "object",
    "properties": {"thought": {"type": "string"}, "tool": {"type": "string"}, "arguments": {"type": "object"},
                   "final": {"type": "string"}},
    "additionalProperties": False,
    "oneOf": [{"required": ["tool", "arguments"], "not": {"required": ["final"]}},
              {"required": ["final"], "not": {"anyOf": [{"required": ["tool"]}, {"required": ["arguments"]}]}}],
}


@dataclass(frozen=True)
class ToolCall:
    """A validated call. ``thought`` is the scratchpad: kept in the trace, never passed to the tool."""

    tool: str
    arguments: dict
    thought: str = ""


@dataclass
class ToolRegistry:
    """Tools by name, an allow-list, and validation before execution (p6-6.1, p6-6.3).

    ``allow`` restricts which registered tools this registry will run (``None``: all of them);
    :meth:`restricted` gives a copy with a smaller allow-list for one task.
    """

    tools: Iterable[Callable] = ()
    allow: Iterable[str] | None = None
    _fns: dict = field(default_factory=dict, init=False, repr=False)
    _schemas: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for fn in list(self.tools):
            self.register(fn)
        self.allow = None if self.allow is None else frozenset(self.allow)
        if self.allow is not None and not self.allow <= set(self._fns):
            raise ValueError(f"allow names unregistered tools: {sorted(self.allow - set(self._fns))}")

    def register(self, fn: Callable, name: str | None = None) -> None:
        name = name or fn.__name__
        if name in self._fns:
            raise ValueError(f"a tool named '{name}' is already registered")
        self._fns[name] = fn
        self._schemas[name] = schema_from_function(fn)

    @property
    def allowed(self) -> list[str]:
        return sorted(self._fns if self.allow is None else self.allow)

    def schema(self, name: str) -> dict:
        return self._schemas[name]

    def specs(self) -> list[dict]:
        """What the model is shown: only the allowed tools."""
        return [tool_spec(self._fns[n], n) for n in self.allowed]

    def restricted(self, allow: Iterable[str]) -> ToolRegistry:
        reg = ToolRegistry(allow=None)
        reg._fns, reg._schemas = dict(self._fns), dict(self._schemas)
        allow = frozenset(allow)
        if not allow <= set(self._fns):
            raise ValueError(f"allow names unregistered tools: {sorted(allow - set(self._fns))}")
        reg.allow = allow
        return reg

    def validate(self, call: dict | str) -> ToolCall:
        """Check the envelope, the allow-list and the arguments; return a :class:`ToolCall` or raise."""
        obj = parse_tool_call(call) if isinstance(call, str) else call
        validate_arguments(CALL_SCHEMA, obj, root="call")
        if "final" in obj:
            raise ToolCallError("call: a final answer is not a tool call")
        name = obj["tool"]
        if name not in self._fns:
            raise ToolCallError(f"call.tool: unknown tool {name!r}; allowed: {self.allowed}")
        if name not in self.allowed:
            raise ToolCallError(f"call.tool: {name!r} is not on this task's allow-list {self.allowed}")
        validate_arguments(self._schemas[name], obj["arguments"])
        return ToolCall(name, dict(obj["arguments"]), obj.get("thought", ""))

    def execute(self, call: ToolCall) -> Any:
        """Run a validated call; only its arguments reach the tool, never the thought."""
        if call.tool not in self.allowed:                     # a ToolCall built by hand skips validate()
            raise ToolCallError(f"call.tool: {call.tool!r} is not on this task's allow-list {self.allowed}")
        return self._fns[call.tool](**call.arguments)
