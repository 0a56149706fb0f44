"""Authoring helpers for the book's notebooks (not part of the reader's package).

* :data:`BOOTSTRAP` — the exact first code cell of every notebook, built from
  the repository address in ``_config.yml``;
* :func:`execute` — run a notebook in place on a fresh kernel, so the
  committed outputs come from executing the committed source;
* :func:`start_kernel` — start a kernel the way both :func:`execute` and the
  test run (nbval, through ``conftest.py``) start one: over Unix-socket (IPC)
  transport, with a bounded start-up time and a few retries.

Why kernels are started this way:

* **IPC, not TCP.** A kernel's five channels are files in a private temporary
  folder instead of loopback TCP ports: nothing listens on a network port, and
  ipykernel's "running over TCP without encryption" warning no longer applies.
* **No frontend emulation of widgets.** :class:`BookClient` turns off nbclient's
  emulation of the ipywidgets ``Output`` widget. When a cell displays an
  ``interactive`` control, nbclient answers the widget's output messages by
  *sending* comm messages on the shell socket from the task that reads IOPub,
  while another task is awaiting the cell's ``execute_reply`` on that same
  shell socket (a zmq.asyncio poll). That send can swallow the poll's wake-up:
  the reply has arrived, but the poll sleeps until the cell timeout expires,
  and only its final check finds the reply, so the notebook stalls for the
  whole timeout without an error (reproduced: 1 run in 4 of four parallel
  executions of Part II §VIII, always at its widget cell; 0 in 24 with the
  emulation off). The book saves no widget state, so the emulation bought
  nothing.

Command line: ``python tools/execute_notebooks.py PATH.ipynb`` or ``all``.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def repository_url(root: Path = ROOT) -> str:
    """The repository address, written once in ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"]


def bootstrap_source(url: str) -> str:
    """The Colab bootstrap cell: installs the companion package on Colab, nothing elsewhere."""
    return (
        "# On Colab, install the book's companion package from its repository; elsewhere do nothing.\n"
        "import importlib.util, subprocess, sys\n"
        "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"book\") is None:\n"
        f"    package = \"llm-book[chapters] @ git+{url}\"\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", package], check=True)"
    )


BOOTSTRAP = bootstrap_source(repository_url())


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every chapter notebook under ``part*/``, sorted."""
    return sorted(p for p in root.glob("part*/**/*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


OFFLINE_DIR = ROOT / "tools" / "offline"


def use_network_guard() -> None:
    """Put the network guard on ``PYTHONPATH`` so every kernel started from now on installs it.

    Python imports ``tools/offline/sitecustomize.py`` at start-up, which installs
    :mod:`netguard`: any connection off this machine then raises.
    """
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(OFFLINE_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE_DIR), *paths])


STARTUP_TIMEOUT = 60   # seconds for a kernel to answer kernel_info; a healthy one needs about 2
START_ATTEMPTS = 3


class KernelStartError(RuntimeError):
    """A kernel did not come up within the start-up timeout, after every retry."""


def ipc_address() -> str:
    """A fresh path prefix for a kernel's IPC sockets (short: Unix socket paths stop at 107 bytes)."""
    folder = Path(tempfile.gettempdir()) / f"book-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return str(folder / uuid.uuid4().hex[:12])


def _retrying(start, what: str, retry_on: tuple[type[BaseException], ...], attempts: int = START_ATTEMPTS,
              timeout: int = STARTUP_TIMEOUT):
    """Call ``start()`` up to ``attempts`` times; raise :class:`KernelStartError` naming ``what``."""
    errors = []
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except retry_on as e:
            errors.append(f"attempt {attempt}: {type(e).__name__}: {e}")
    raise KernelStartError(
        f"{what}: the kernel did not start within {timeout} s in {attempts} attempts "
        f"({'; '.join(errors)}). Is the machine out of memory, or is another kernel hung?")


def start_kernel(kernel_name: str = "python3", startup_timeout: int = STARTUP_TIMEOUT,
                 kernel_spec_manager=None, what: str = "kernel", **start_kwargs):
    """Start a kernel over IPC transport and wait until it answers; returns ``(manager, client)``.

    This is the blocking start used by the test run (``conftest.py`` installs it
    as nbval's ``start_new_kernel``). ``start_kwargs`` go to
    ``KernelManager.start_kernel`` (``cwd=``, ``stderr=``, ``env=``).
    """
    from jupyter_client.manager import KernelManager

    def attempt():
        extra = {"kernel_spec_manager": kernel_spec_manager} if kernel_spec_manager is not None else {}
        km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=ipc_address(), **extra)
        km.start_kernel(**start_kwargs)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=startup_timeout)
        except RuntimeError:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            raise
        return km, kc

    # jupyter_client raises RuntimeError when a kernel does not answer in time
    return _retrying(attempt, what, retry_on=(RuntimeError,), timeout=startup_timeout)


def _book_client_class():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    class BookClient(NotebookClient):
        """nbclient's executor over IPC transport, without Output-widget emulation (see the module docstring)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.comm_open_handlers = {}

        def create_kernel_manager(self):
            self.km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc", ip=ipc_address(),
                                         config=self.config)
            return self.km

        async def async_start_new_kernel_client(self):
            try:
                return await super().async_start_new_kernel_client()
            except (RuntimeError, TimeoutError) as e:
                raise KernelStartError(str(e)) from e

    return BookClient


def execute(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in place on a fresh kernel; record the wall time in its metadata.

    Returns the seconds taken. The kernel starts in the notebook's folder, as
    Jupyter and nbval start it. A kernel that does not come up within
    :data:`STARTUP_TIMEOUT` is replaced, up to :data:`START_ATTEMPTS` times.
    """
    import nbformat

    client_class = _book_client_class()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    def run():
        client = client_class(nb, timeout=timeout, kernel_name="python3", startup_timeout=STARTUP_TIMEOUT,
                              resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start

    # Only a kernel that never came up is retried; a failing or timed-out cell is an error.
    seconds = _retrying(run, f"executing {path.name}", retry_on=(KernelStartError,))
    nb.metadata.setdefault("book", {})["measured_cpu_seconds"] = round(seconds, 1)
    nb.metadata.pop("widgets", None)  # live widget state is meaningless once saved
    nbformat.write(nb, path)
    return seconds
