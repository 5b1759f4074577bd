"""The book's figure style and the few plot helpers the pages share (seaborn over tidy frames)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

PALETTE = {"same": "#1b6ca8", "different": "#e08a1e", "adversarial": "#b2182b", "shuffled": "#999999"}


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def glue_figure(name: str, fig: plt.Figure) -> None:
    """Glue a figure for a ``{glue:figure}`` directive (with its caption in the page) and close it, so it is not
    also shown where it was made. The PNG is rendered now, by the notebook's inline backend."""
    from IPython.display import Image
    from io import BytesIO
    from myst_nb import glue

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=plt.rcParams["figure.dpi"], bbox_inches="tight")
    plt.close(fig)
    glue(name, Image(buffer.getvalue(), format="png"), display=False)


def ci_bars(cells: pd.DataFrame, *, x: str, hue: str, col: str | None = None, value: str = "perc_clean",
            ylabel: str = "AUC under attack, % of clean (perc_clean)", reference: float | None = 100.0,
            col_order: Sequence[str] | None = None, height: float = 3.2) -> plt.Figure:
    """Grouped bars of ``value`` with their bootstrap CIs as error bars (one panel per ``col``)."""
    panels = list(col_order or (cells[col].unique() if col else [None]))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 3.6 * len(panels), height), sharey=True, squeeze=False)
    x_levels = list(dict.fromkeys(cells[x]))
    hue_levels = list(dict.fromkeys(cells[hue]))
    width = 0.8 / len(hue_levels)
    for ax, panel in zip(axes[0], panels):
        data = cells if panel is None else cells[cells[col] == panel]
        for j, level in enumerate(hue_levels):
            part = data[data[hue] == level].set_index(x).reindex(x_levels)
            pos = np.arange(len(x_levels)) + (j - (len(hue_levels) - 1) / 2) * width
            err = np.vstack([part[value] - part["ci_low"], part["ci_high"] - part[value]])
            ax.bar(pos, part[value], width * 0.95, yerr=err, capsize=3, label=str(level),
                   color=PALETTE.get(str(level)), edgecolor="white")
        if reference is not None:
            ax.axhline(reference, color="black", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(x_levels)), [str(v) for v in x_levels], rotation=0)
        ax.set_title(str(panel) if panel is not None else "")
        ax.set_xlabel(x.replace("_", " "))
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(title=hue.replace("_", " "), frameon=False, loc="lower right")
    return fig


def image_strip(images: Sequence[np.ndarray], titles: Sequence[str], *, cmap: str | None = None) -> plt.Figure:
    """A row of images (H×W×C floats in [0, 1], or H×W) with titles."""
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.4), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(np.clip(image, 0, 1), cmap=cmap or ("gray" if image.ndim == 2 else None), vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig
