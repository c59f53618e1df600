"""matplotlib and the look shared by every figure: colours, markers, line styles, layout.

matplotlib is optional: :func:`_require_matplotlib` turns its absence into a clear
``ImportError`` and every other import of it is lazy, inside the function that needs it.
"""

_MPL_ERROR = "refset plots need matplotlib: pip install 'refset[plot]'"
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
_MARKERS = ("o", "^", "s", "X", "D", "v", "P", "*")
_STYLES = ("-", "--", ":", "-.")
_SYMBOLS = {"zeta": "ζ", "epsilon": "ε"}
_DPI = 150


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(_MPL_ERROR) from None


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kw)


def _integer_epochs(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
