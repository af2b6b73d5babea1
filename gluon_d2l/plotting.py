"""d2l's plotting utilities on matplotlib: ``plot``, ``set_figsize``, ``set_axes``,
``use_svg_display`` and ``Animator``.

Headless-safe: matplotlib is imported on first use, never at ``import gluon_d2l``, and no backend
is forced. Without a display, matplotlib falls back to Agg and figures can be saved with
``savefig``. In a Jupyter kernel, figures are drawn inline (as SVG after ``use_svg_display()``),
and ``Animator`` redraws its figure in place after every ``add``.
"""


from .checks import check_figsize, check_positive_int


def _pyplot():
    from matplotlib import pyplot as plt
    return plt


def _in_notebook():
    """Whether we run inside an IPython kernel (a notebook), where figures are displayed inline."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and 'IPKernelApp' in getattr(shell, 'config', {})


def _notebook_display():
    """``IPython.display`` inside a notebook kernel, else ``None``."""
    if not _in_notebook():
        return None
    from IPython import display
    return display


def use_svg_display():
    """Draw notebook figures as SVG (does nothing outside a notebook)."""
    if not _in_notebook():
        return
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:                         # older IPython
        from IPython.display import set_matplotlib_formats
    set_matplotlib_formats('svg')


def set_figsize(figsize=(3.5, 2.5)):
    """Set matplotlib's default figure size (in inches)."""
    figsize = check_figsize('figsize', figsize)
    use_svg_display()
    _pyplot().rcParams['figure.figsize'] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Label, bound, scale and put a legend and grid on ``axes``."""
    if not all(hasattr(axes, a) for a in ('set_xlabel', 'set_xscale', 'legend', 'grid')):
        raise TypeError(f'axes must be matplotlib Axes, got {type(axes).__name__}')
    for name, scale in (('xscale', xscale), ('yscale', yscale)):
        _check_scale(name, scale)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


_SCALES = ('linear', 'log', 'symlog', 'logit')


def _check_scale(name, scale):
    if scale not in _SCALES and not callable(getattr(scale, 'get_transform', None)):
        raise ValueError(f'{name} must be one of {", ".join(_SCALES)}, got {scale!r}')


def _check_plot_args(figsize, xscale, yscale, fmts):
    check_figsize('figsize', figsize)
    _check_scale('xscale', xscale)
    _check_scale('yscale', yscale)
    if isinstance(fmts, str) or not isinstance(fmts, (list, tuple)) or not fmts:
        raise TypeError(f'fmts must be a non-empty list or tuple of format strings, got {fmts!r}')


def _as_list(values):
    """Host values: ``mx.np``/NumPy arrays become NumPy, scalars stay scalars."""
    return values.asnumpy() if hasattr(values, 'asnumpy') else values


def _is_one_axis(values):
    """Whether ``values`` is one series (a 1-D array or a flat list), not a list of series."""
    if hasattr(values, 'ndim'):
        return values.ndim == 1
    return isinstance(values, list) and (not values or not hasattr(values[0], '__len__'))


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale='linear',
         yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'), figsize=(3.5, 2.5), axes=None):
    """Plot one or several series: ``plot(x, [y1, y2])``, ``plot(x, y)`` or ``plot([y1, y2])``.

    Returns the axes it drew on (the current figure's unless ``axes`` is given).
    """
    _check_plot_args(figsize, xscale, yscale, fmts)
    if axes is not None and not hasattr(axes, 'plot'):
        raise TypeError(f'axes must be matplotlib Axes or None, got {type(axes).__name__}')
    set_figsize(figsize)
    axes = axes if axes is not None else _pyplot().gca()
    X = [X] if _is_one_axis(X) else list(X)
    if Y is None:
        X, Y = [[]] * len(X), X
    else:
        Y = [Y] if _is_one_axis(Y) else list(Y)
    if len(X) != len(Y):
        X = X * len(Y)
    for x, y in zip(X, Y):
        if len(x) and len(x) != len(y):
            raise ValueError(f'Y: a series of {len(y)} values for X of {len(x)} values')
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts * len(Y)):
        x, y = _as_list(x), _as_list(y)
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend or [])
    return axes


class Animator:
    """Plot data that arrives point by point (e.g. a metric per epoch): ``add(x, [y1, y2])``.

    In a notebook the figure is redrawn in place after every ``add``; elsewhere it is only
    updated (save it with ``animator.fig.savefig(path)``).
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale='linear',
                 yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'), nrows=1, ncols=1, figsize=(3.5, 2.5)):
        _check_plot_args(figsize, xscale, yscale, fmts)
        check_positive_int('nrows', nrows)
        check_positive_int('ncols', ncols)
        use_svg_display()
        self.fig, axes = _pyplot().subplots(nrows, ncols, figsize=figsize)
        self.axes = [axes] if nrows * ncols == 1 else list(axes.flat)
        self._settings = (xlabel, ylabel, xlim, ylim, xscale, yscale, legend or [])
        self.fmts = fmts
        self.X, self.Y = None, None

    def add(self, x, y):
        """Append one point to each series (``y`` may be a number or a list, one per series)."""
        y = list(y) if hasattr(y, '__len__') else [y]
        x = list(x) if hasattr(x, '__len__') else [x] * len(y)
        if len(x) != len(y):
            raise ValueError(f'y: {len(y)} values for {len(x)} x values (one per series)')
        if self.X is not None and len(y) != len(self.Y):
            raise ValueError(f'y: {len(y)} values, but the animator has {len(self.Y)} series')
        for value in x + y:
            if value is not None and (isinstance(value, (str, bytes)) or not hasattr(value, '__float__')):
                raise TypeError(f'Animator.add: x and y must be numbers (or None), got {value!r}')
        if self.X is None:
            self.X, self.Y = [[] for _ in y], [[] for _ in y]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        axes = self.axes[0]
        axes.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts * len(self.X)):
            axes.plot(xs, ys, fmt)
        set_axes(axes, *self._settings)
        display = _notebook_display()
        if display is not None:
            display.display(self.fig)
            display.clear_output(wait=True)
