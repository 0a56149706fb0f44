"""The agent loop: plan, act, observe, reflect and retry, stop — with a trace of every step.

Taught in p6-6.2. A *policy* is anything that maps the task and the history so far to the text of
its next move, a JSON object with a scratchpad ``thought`` and either a tool call
(``"tool"`` + ``"arguments"``) or a ``"final"`` answer. A language model is one such policy; the
chapter also uses deterministic ones, so that every run is reproducible. :func:`run_agent`
parses and validates each move, runs the tool, and feeds the result (or the error) back as the
next observation; a rejected call or a failing tool does not end the run: the policy sees the
error and can correct itself. The run stops at a final answer or when the :class:`Budget` runs out.

>>> from book.agents.tools import ToolRegistry
>>> def add(numbers: list[float]) -> float:
...     '''Add numbers.'''
...     return sum(numbers)
>>> policy = ScriptedPolicy(['{"thought": "sum", "tool": "add", "arguments": {"numbers": "1,2"}}',
...                          '{"thought": "retry with a list", "tool": "add", "arguments": {"numbers": [1, 2]}}',
...                          '{"thought": "done", "final": "3"}'])
>>> trace = run_agent("add 1 and 2", policy, ToolRegistry([add]))
>>> [s.status for s in trace.steps], trace.answer
(['rejected', 'ok', 'final'], '3')
>>> trace.steps[0].observation
"error: arguments.numbers: expected array, got '1,2'"
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from book.agents.sandbox import Budget, BudgetExceeded
from book.agents.tools import CALL_SCHEMA, ToolCallError, ToolError, ToolRegistry, parse_tool_call, validate_arguments


@dataclass(frozen=True)
class Step:
    """One turn of the loop, as the trace records it."""

    index: int
    thought: str
    tool: str | None          # None for a final answer or a move without a tool name
    arguments: dict | None
    observation: str          # what the policy sees next: the tool's output, marked or not, or the error
    status: str               # "ok", "tool error", "rejected", "final", "stopped"


@dataclass
class Trace:
    task: str
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    stop_reason: str = ""

    @property
    def calls(self) -> list[Step]:
        """The steps whose tool actually ran (successfully or not)."""
        return [s for s in self.steps if s.status in ("ok", "tool error")]

    def to_html(self, width: int = 70) -> str:
        """The trace as an HTML table: step, thought, action, observation, status (p6-6.2)."""
        def cut(s: str) -> str:
            s = s if len(s) <= width else s[: width - 1] + "…"
            return html.escape(s)
        rows = []
        for s in self.steps:
            action = f"{s.tool}({json.dumps(s.arguments)})" if s.tool else ("final" if s.status == "final" else "—")
            rows.append(f"<tr><td>{s.index}</td><td><i>{cut(s.thought)}</i></td><td><code>{cut(action)}</code>"
                        f"</td><td>{cut(s.observation)}</td><td>{s.status}</td></tr>")
        return ("<table><tr><th>step</th><th>thought (scratchpad)</th><th>action</th><th>observation</th>"
                "<th>status</th></tr>" + "".join(rows) + "</table>"
                f"<p>answer: {html.escape(str(self.answer))}; stopped: {html.escape(self.stop_reason)}</p>")


class Policy(Protocol):
    def __call__(self, task: str, history: Sequence[Step]) -> str: ...


class ScriptedPolicy:
    """Replays fixed outputs in order, whatever it observes (a deterministic stand-in for a model)."""

    def __init__(self, outputs: Sequence[str]):
        self.outputs = list(outputs)

    def __call__(self, task: str, history: Sequence[Step]) -> str:
        if len(history) >= len(self.outputs):
            return self.outputs[-1]
        return self.outputs[len(history)]


def as_text(result: object) -> str:
    """A tool's return value as the text an agent observes (JSON for anything but a string)."""
    return result if isinstance(result, str) else json.dumps(result)


def run_agent(task: str, policy: Policy, registry: ToolRegistry, budget: Budget | None = None,
              observe: Callable[[str, str], str] | None = None) -> Trace:
    """Run the loop until a final answer or the budget ends it (p6-6.2).

    ``observe(tool, text)`` turns a tool's output into what the policy sees; the default passes
    it through unchanged, and :func:`book.agents.injection.mark_as_data` is the defended choice.
    """
    budget = budget or Budget()
    observe = observe or (lambda tool, text: text)
    trace = Trace(task)
    while True:
        i = len(trace.steps)
        try:
            budget.charge_step()
        except BudgetExceeded as e:
            trace.stop_reason = str(e)
            return trace
        text = policy(task, trace.steps)
        thought, obj = "", {}
        try:
            obj = parse_tool_call(text)
            thought = obj.get("thought", "") if isinstance(obj.get("thought", ""), str) else ""
            if "final" in obj:
                validate_arguments(CALL_SCHEMA, obj, root="call")
                trace.steps.append(Step(i, thought, None, None, "", "final"))
                trace.answer, trace.stop_reason = obj["final"], "final answer"
                return trace
            call = registry.validate(obj)
        except ToolCallError as e:
            tool = obj.get("tool") if isinstance(obj.get("tool"), str) else None      # what it tried, for the trace
            args = obj.get("arguments") if isinstance(obj.get("arguments"), dict) else None
            trace.steps.append(Step(i, thought, tool, args, f"error: {e}", "rejected"))
            continue
        try:
            budget.charge_call(call.tool)
        except BudgetExceeded as e:
            trace.steps.append(Step(i, call.thought, call.tool, call.arguments, f"error: {e}", "stopped"))
            trace.stop_reason = str(e)
            return trace
        try:
            out = observe(call.tool, as_text(registry.execute(call)))
            status = "ok"
        except ToolError as e:
            out, status = f"error: {e}", "tool error"
        trace.steps.append(Step(i, call.thought, call.tool, call.arguments, out, status))
