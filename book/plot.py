"""One figure style for the whole book, and three views of a parameter sweep.

A sweep is a list of values and a ``draw(ax, value)`` function. The same pair
gives

* :func:`animate_sweep`: a ``to_jshtml`` animation with a slider, which works
  in the static HTML book without a kernel;
* :func:`small_multiples`: a grid of panels, one per value, for print;
* :func:`interactive_sweep`: an ipywidgets slider for live exploration.

Taught in p1-1.3 (the learning-rate sweep); every chapter draws through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# Okabe–Ito: distinguishable with colour-vision deficiency, and mid-tone enough
# to read on the white figure background in both the light and dark themes.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

Draw = Callable[["matplotlib.axes.Axes", object], None]  # noqa: F821


def use_style() -> None:
    """Apply the book's figure style (white card, small legible fonts, Okabe–Ito colours)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        # An opaque white background keeps black text readable in dark mode.
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.facecolor": "white",
        "figure.figsize": (6.0, 3.6),
        "figure.dpi": 100,
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=PALETTE),
        "lines.linewidth": 1.8,
        "image.cmap": "viridis",
        # Inline animations of a dozen small frames stay well under this.
        "animation.embed_limit": 40.0,
    })


# matplotlib's to_jshtml links Font Awesome 4 from a CDN for its nine button icons.
# The book must work offline, so the link is replaced by glyphs drawn with CSS.
_FONT_AWESOME_LINK = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">')
_OFFLINE_ICONS = "<style>" + "".join(
    f".anim-buttons i.fa-{name}::before{{content:'{glyph}';font-style:normal}}"
    for name, glyph in [("minus", "\\2212"), ("plus", "+"), ("fast-backward", "\\23EE"),
                        ("step-backward", "\\23F4\\23F4"), ("play", "\\25B6"), ("pause", "\\23F8"),
                        ("step-forward", "\\23F5\\23F5"), ("fast-forward", "\\23ED")]
) + ".anim-buttons i.fa-flip-horizontal{display:inline-block;transform:scaleX(-1)}</style>"


def offline_jshtml(html: str) -> str:
    """``to_jshtml`` output with its CDN stylesheet replaced by inline CSS icons (nothing is fetched).

    >>> offline_jshtml('<link rel="stylesheet"\\nhref="//cdn.example/font-awesome.min.css"><div>')[:7]
    '<style>'
    """
    return _FONT_AWESOME_LINK.sub(lambda _: _OFFLINE_ICONS, html)


def _frame_label(label: str, value: object) -> str:
    return label.format(value) if "{" in label else f"{label} = {value}"


def animate_sweep(values: Sequence[object], draw: Draw, *, label: str = "value",
                  figsize: tuple[float, float] = (6.0, 3.6), interval_ms: int = 700, dpi: int = 80):
    """Render ``draw(ax, v)`` for each ``v`` as an HTML animation with a slider.

    ``label`` titles each frame: either a name (``"lr"`` gives ``"lr = 0.1"``)
    or a format string (``"lr = {:.2g}"``). ``dpi`` is kept modest because
    every frame is embedded in the notebook as a PNG. Returns an ``IPython.display.HTML``
    object; the figure is closed so that it is not also shown as a still.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    values = list(values)
    if not values:
        raise ValueError("animate_sweep needs at least one value")
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)

    def update(i: int):
        ax.clear()
        draw(ax, values[i])
        ax.set_title(_frame_label(label, values[i]))
        return ()

    anim = FuncAnimation(fig, update, frames=len(values), interval=interval_ms, blit=False)
    html = offline_jshtml(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return HTML(html)


def small_multiples(values: Sequence[object], draw: Draw, *, label: str = "value",
                    ncols: int = 3, panel_size: tuple[float, float] = (2.6, 2.2),
                    sharex: bool = False, sharey: bool = False):
    """One panel per value in a grid; returns the matplotlib figure."""
    import math

    import matplotlib.pyplot as plt

    values = list(values)
    if not values:
        raise ValueError("small_multiples needs at least one value")
    ncols = min(ncols, len(values))
    nrows = math.ceil(len(values) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False, sharex=sharex, sharey=sharey)
    for ax, value in zip(axes.flat, values):
        draw(ax, value)
        ax.set_title(_frame_label(label, value))
    for ax in list(axes.flat)[len(values):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def interactive_sweep(values: Sequence[object], draw: Draw, *, label: str = "value",
                      figsize: tuple[float, float] = (6.0, 3.6)):
    """A live ipywidgets slider over ``values`` that redraws ``draw(ax, v)``.

    Needs a running kernel (Jupyter, Colab); the HTML book shows the
    :func:`animate_sweep` twin instead.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    values = list(values)
    if not values:
        raise ValueError("interactive_sweep needs at least one value")
    slider = widgets.SelectionSlider(options=values, value=values[0], description=label.split("=")[0].strip(" {:}"),
                                     continuous_update=False)

    def show(value):
        fig, ax = plt.subplots(figsize=figsize)
        draw(ax, value)
        ax.set_title(_frame_label(label, value))
        plt.show()

    # An `interactive` widget (not `interact`, which returns the function) so the
    # cell's displayed value is the control itself.
    return widgets.interactive(show, value=slider)
