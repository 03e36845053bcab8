"""Every figure: a clip's waveform, spectrogram and 3-D autocorrelogram, confusion matrices, curves.

matplotlib (and plotly for the interactive view) are an optional extra,
``pip install "audiorep[plot]"``, imported only when a function here runs.
Figures are drawn on plain ``matplotlib.figure.Figure`` objects, so no GUI
backend is touched, and every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._util import atomic_path
from .errors import ParameterError

__all__ = ["plot_waveform", "plot_spectrogram", "plot_autocorrelogram", "autocorrelogram_html", "plot_clip",
           "plot_confusion", "plot_curves", "surface_grid"]


def _figure(figsize):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError('plotting needs matplotlib: pip install "audiorep[plot]"') from exc
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    return path


def _mono(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"expected a non-empty 1-D signal, got shape {y.shape}")
    return y


def plot_waveform(y, sr, path, *, title="Waveform") -> Path:
    """Write the amplitude-over-time plot of ``y`` to ``path`` (PNG).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from audiorep.plot import plot_waveform
    >>> out = plot_waveform(np.sin(np.arange(800) / 10), 8000, os.path.join(tempfile.mkdtemp(), "w.png"))
    >>> out.stat().st_size > 0
    True
    """
    y = _mono(y)
    fig = _figure((8, 2.8))
    ax = fig.add_subplot()
    t = np.arange(len(y)) / sr
    ax.plot(t, y, lw=0.5, color="tab:blue")
    ax.set(xlabel="Time (s)", ylabel="Amplitude", title=title, xlim=(0, t[-1] if len(t) > 1 else 1))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_spectrogram(y, sr, path, *, n_fft=2048, hop_length=512, n_mels=128, title="Log-mel spectrogram") -> Path:
    """Write the log-mel spectrogram of ``y`` (dB) to ``path`` (PNG).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from audiorep.plot import plot_spectrogram
    >>> y = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    >>> plot_spectrogram(y, 8000, os.path.join(tempfile.mkdtemp(), "s.png"), n_mels=32).exists()
    True
    """
    from .dsp import melspectrogram

    y = _mono(y)
    S = melspectrogram(y, sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, log=True)
    fig = _figure((8, 3.5))
    ax = fig.add_subplot()
    duration = len(y) / sr
    im = ax.imshow(S, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, n_mels))
    fig.colorbar(im, ax=ax, label="dB")
    ax.set(xlabel="Time (s)", ylabel="Mel band", title=title)
    return _save(fig, path)


def surface_grid(acg, max_points=(200, 256)):
    """Thin one clip's autocorrelogram to at most ``max_points`` (frames, lags) for drawing as a surface.

    Every n-th frame and every m-th lag are kept, so the grid stays regular.

    Returns
    -------
    times : numpy.ndarray
        Frame centres in seconds.
    delays_ms : numpy.ndarray
        Lags in milliseconds.
    z : numpy.ndarray
        (times, delays) correlation values.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> from audiorep.plot import surface_grid
    >>> y = np.sin(2 * np.pi * 200 * np.arange(8000) / 8000).astype(np.float32)
    >>> acg = audiorep.autocorrelogram(y, 8000, frame_length=256, hop_length=16)
    >>> [a.shape for a in surface_grid(acg, max_points=(100, 64))]
    [(84,), (64,), (84, 64)]
    """
    values = np.asarray(acg.values)
    if values.ndim != 2:
        raise ParameterError(f"expected one clip's autocorrelogram (frames x lags), got shape {values.shape}")
    step_t = max(1, -(-values.shape[0] // max_points[0]))
    step_l = max(1, -(-values.shape[1] // max_points[1]))
    times = np.asarray(acg.times)[::step_t]
    delays_ms = np.asarray(acg.lags)[::step_l] * 1000.0
    return times, delays_ms, values[::step_t, ::step_l]


def plot_autocorrelogram(acg, path, *, title="Autocorrelogram") -> Path:
    """Write the 3-D autocorrelogram surface (time, delay in ms, correlation) to ``path`` (PNG).

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep
    >>> from audiorep.plot import plot_autocorrelogram
    >>> y = np.sin(2 * np.pi * 200 * np.arange(8000) / 8000).astype(np.float32)
    >>> acg = audiorep.autocorrelogram(y, 8000, frame_length=256, hop_length=128)
    >>> plot_autocorrelogram(acg, os.path.join(tempfile.mkdtemp(), "a.png")).exists()
    True
    """
    times, delays, z = surface_grid(acg)
    fig = _figure((8, 5.5))
    ax = fig.add_subplot(projection="3d")
    T, D = np.meshgrid(times, delays, indexing="ij")
    surf = ax.plot_surface(T, D, z, cmap="viridis", linewidth=0, antialiased=False, rcount=z.shape[0],
                           ccount=z.shape[1])
    fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.12)
    ax.set(xlabel="Time (s)", ylabel="Delay (ms)", title=title)
    ax.set_zlabel("Correlation", labelpad=8)
    ax.view_init(elev=35, azim=-60)
    return _save(fig, path)


def autocorrelogram_html(acg, path, *, title="Autocorrelogram") -> Path:
    """Write an interactive 3-D view of ``acg`` as a self-contained HTML file (works offline).

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep
    >>> from audiorep.plot import autocorrelogram_html
    >>> y = np.sin(2 * np.pi * 200 * np.arange(8000) / 8000).astype(np.float32)
    >>> acg = audiorep.autocorrelogram(y, 8000, frame_length=256, hop_length=128)
    >>> autocorrelogram_html(acg, os.path.join(tempfile.mkdtemp(), "a.html")).stat().st_size > 100000
    True
    """
    try:
        import plotly.graph_objects as go
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError('the interactive view needs plotly: pip install "audiorep[plot]"') from exc
    times, delays, z = surface_grid(acg)
    fig = go.Figure(go.Surface(x=delays, y=times, z=z, colorscale="Viridis", colorbar={"title": "Correlation"}))
    fig.update_layout(title=title, scene={"xaxis_title": "Delay (ms)", "yaxis_title": "Time (s)",
                                          "zaxis_title": "Correlation"})
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def plot_clip(y, sr, out_dir, *, stem="clip", frame_length=2048, hop_length=512, max_lag=None) -> dict:
    """Write the waveform, 3-D autocorrelogram and spectrogram PNGs and the HTML view of one clip.

    Returns a dict mapping each figure's name to its path.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from audiorep.plot import plot_clip
    >>> y = np.sin(2 * np.pi * 220 * np.arange(8000) / 8000).astype(np.float32)
    >>> sorted(plot_clip(y, 8000, tempfile.mkdtemp(), frame_length=512, hop_length=256))
    ['autocorrelogram', 'html', 'spectrogram', 'waveform']
    """
    from .dsp import autocorrelogram

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = _mono(y)
    acg = autocorrelogram(y, sr, frame_length=frame_length, hop_length=hop_length, max_lag=max_lag)
    return {
        "waveform": plot_waveform(y, sr, out / f"{stem}_waveform.png"),
        "autocorrelogram": plot_autocorrelogram(acg, out / f"{stem}_autocorrelogram.png"),
        "spectrogram": plot_spectrogram(y, sr, out / f"{stem}_spectrogram.png", n_fft=frame_length,
                                        hop_length=hop_length),
        "html": autocorrelogram_html(acg, out / f"{stem}_autocorrelogram.html"),
    }


def plot_confusion(matrix, path, *, label_names=None, title=None) -> Path:
    """Draw a confusion matrix as a PNG: columns true class, rows predicted class.

    ``matrix[i, j]`` counts clips of true class i predicted as j. Each cell shows its count and
    the percentage of its column (the true class), shaded by that percentage.

    Examples
    --------
    >>> import tempfile, os
    >>> out = plot_confusion([[3, 1], [0, 4]], os.path.join(tempfile.mkdtemp(), "c.png"), label_names=["dog", "rain"])
    >>> out.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    from .evaluate import check_confusion

    matrix, names, percent = check_confusion(matrix, label_names)
    n = len(names)
    size = max(4.0, 0.9 * n + 2.0)
    fig = _figure((size, size))
    ax = fig.add_subplot()
    ax.imshow(percent, cmap="Greys", vmin=0, vmax=100)
    for p in range(n):
        for t in range(n):
            ax.text(t, p, f"{matrix[t, p]}\n{percent[p, t]:.1f}%", ha="center", va="center",
                    fontsize=8 if n <= 10 else 6, color="white" if percent[p, t] > 50 else "black")
    ax.set_xticks(range(n), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("true class")
    ax.set_ylabel("predicted class")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_curves(curves, path, *, xlabel="epoch", ylabels=None, title=None) -> Path:
    """Plot named curves against a shared x axis in one or two panels (PNG).

    ``curves`` maps a panel's y label to ``{name: (x, y)}``; each panel gets its own axes, side by
    side, e.g. a loss panel and an accuracy panel.

    Examples
    --------
    >>> import tempfile, os
    >>> out = plot_curves({"loss": {"train": ([1, 2, 3], [3, 2, 1])}}, os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> out.stat().st_size > 0
    True
    """
    if not curves:
        raise ParameterError("plot_curves needs at least one panel")
    fig = _figure((5.5 * len(curves), 3.6))
    for i, (ylabel, named) in enumerate(curves.items()):
        ax = fig.add_subplot(1, len(curves), i + 1)
        for name, (x, y) in named.items():
            ax.plot(x, y, marker="o", markersize=3, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
