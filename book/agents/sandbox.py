"""A file tool confined to one directory, and budgets on an agent's steps and calls.

Taught in p6-6.3. :class:`Sandbox` resolves every path it is given against its root and refuses
any that lands outside it, whatever the route: ``..`` components, an absolute path, a symbolic
link that points out, a NUL byte. The check is on the *resolved* path, so a route nobody thought
of is refused too. :class:`Budget` caps the steps of a run, the tool calls, and the calls per
tool; exceeding one raises :class:`BudgetExceeded`, which stops the loop.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     box = Sandbox(d)
...     _ = box.write_file("notes/a.txt", "hello")
...     print(box.read_file("notes/a.txt"), box.list_files("."))
...     try:
...         box.read_file("../../etc/passwd")
...     except SandboxError as e:
...         print(e)
hello ['notes/a.txt']
path '../../etc/passwd' resolves outside the sandbox
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from book.agents.tools import ToolError


class SandboxError(ToolError):
    """A path that would leave the sandbox, or a file operation the sandbox refuses."""


class BudgetExceeded(RuntimeError):
    """A run used up its steps or calls."""


class Sandbox:
    """File tools (``read_file``, ``write_file``, ``list_files``) rooted at one directory (p6-6.3)."""

    def __init__(self, root: str | Path, max_bytes: int = 64_000):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"root must be an existing directory, got {str(root)!r}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def resolve(self, path: str) -> Path:
        """The real path inside the root, or :class:`SandboxError` saying why not."""
        if not isinstance(path, str) or not path:
            raise SandboxError(f"path must be a non-empty string, got {path!r}")
        if "\x00" in path:
            raise SandboxError(f"path {path!r} contains a NUL byte")
        if Path(path).is_absolute() or path.startswith("~"):
            raise SandboxError(f"path {path!r} is absolute; give a path relative to the sandbox")
        real = (self.root / path).resolve()            # follows symlinks and collapses '..'
        if not real.is_relative_to(self.root):
            raise SandboxError(f"path {path!r} resolves outside the sandbox")
        return real

    def read_file(self, path: str) -> str:
        """Read a text file inside the sandbox."""
        real = self.resolve(path)
        if not real.is_file():
            raise SandboxError(f"no such file: {path!r}")
        data = real.read_bytes()
        if len(data) > self.max_bytes:
            raise SandboxError(f"{path!r} has {len(data)} bytes, more than the limit of {self.max_bytes}")
        return data.decode("utf-8", errors="replace")

    def write_file(self, path: str, content: str) -> str:
        """Write a text file inside the sandbox (parent folders are created)."""
        real = self.resolve(path)
        if len(content.encode()) > self.max_bytes:
            raise SandboxError(f"content of {len(content.encode())} bytes exceeds the limit of {self.max_bytes}")
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(content)
        return f"wrote {len(content)} characters to {path}"

    def list_files(self, folder: str = ".") -> list[str]:
        """Files under a folder of the sandbox, relative to the root, sorted."""
        real = self.resolve(folder)
        if not real.is_dir():
            raise SandboxError(f"no such folder: {folder!r}")
        return sorted(str(p.relative_to(self.root)) for p in real.rglob("*")
                      if p.is_file() and p.resolve().is_relative_to(self.root))


@dataclass
class Budget:
    """Limits on one run: steps, tool calls in total, and calls per tool (p6-6.3)."""

    max_steps: int = 12
    max_calls: int = 8
    per_tool: Mapping[str, int] = field(default_factory=dict)
    steps: int = 0
    calls: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.max_steps < 1 or self.max_calls < 0:
            raise ValueError(f"max_steps must be >= 1 and max_calls >= 0, got {self.max_steps}, {self.max_calls}")
        bad = {k: v for k, v in self.per_tool.items() if v < 0}
        if bad:
            raise ValueError(f"per_tool limits must be >= 0, got {bad}")

    def charge_step(self) -> None:
        if self.steps >= self.max_steps:
            raise BudgetExceeded(f"step budget of {self.max_steps} used up")
        self.steps += 1

    def charge_call(self, tool: str) -> None:
        used = sum(self.calls.values())
        if used >= self.max_calls:
            raise BudgetExceeded(f"call budget of {self.max_calls} used up")
        if tool in self.per_tool and self.calls.get(tool, 0) >= self.per_tool[tool]:
            raise BudgetExceeded(f"budget of {self.per_tool[tool]} calls to {tool!r} used up")
        self.calls[tool] = self.calls.get(tool, 0) + 1
