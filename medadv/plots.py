"""The book's figure style and the few plot helpers the pages share (seaborn over tidy frames)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from medadv.paper import PAPER_SCALE
from medadv.vocab import ADVERSARIAL, DIFFERENT, IMAGENET, RANDOM, SAME, SHUFFLED

EPS_AXIS = f"eps on [0, 1] (the paper's scale: ×{PAPER_SCALE:g})"
PALETTE = {SAME: "#1b6ca8", DIFFERENT: "#e08a1e", "ensemble": "#4d9221", ADVERSARIAL: "#b2182b",
           SHUFFLED: "#999999", IMAGENET: "#1b6ca8", RANDOM: "#e08a1e"}


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
            col_order: Sequence[str] | None = None, height: float = 3.2, panel_width: float = 3.6,
            legend_outside: bool = False) -> plt.Figure:
    """Grouped bars of ``value`` with their bootstrap CIs as error bars (one panel per ``col``). Hue levels that an x
    level never has (in any panel) leave no gap: the bars present at that x are centred on it. The legend sits in the
    last panel, or right of it (``legend_outside``)."""
    panels = list(col_order or (cells[col].unique() if col else [None]))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + panel_width * len(panels), height), sharey=True,
                             squeeze=False)
    x_levels = list(dict.fromkeys(cells[x]))
    hue_levels = list(dict.fromkeys(cells[hue]))
    width = 0.8 / len(hue_levels)
    present = {v: [h for h in hue_levels if ((cells[x] == v) & (cells[hue] == h) & cells[value].notna()).any()]
               for v in x_levels}
    for ax, panel in zip(axes[0], panels):
        data = cells if panel is None else cells[cells[col] == panel]
        for level in hue_levels:
            part = data[data[hue] == level].set_index(x).reindex(x_levels)
            pos = np.array([i + (present[v].index(level) - (len(present[v]) - 1) / 2) * width if level in present[v]
                            else np.nan for i, v in enumerate(x_levels)])
            err = np.vstack([part[value] - part["ci_low"], part["ci_high"] - part[value]])
            ax.bar(pos, part[value], width * 0.95, yerr=err, capsize=3, label=str(level),
                   color=PALETTE.get(str(level)), edgecolor="white")
        if reference is not None:
            ax.axhline(reference, color="black", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(x_levels)), [str(v) for v in x_levels], rotation=0)
        ax.set_title(str(panel) if panel is not None else "")
        ax.set_xlabel(x.replace("_", " "))
    axes[0][0].set_ylabel(ylabel)
    where = dict(loc="upper left", bbox_to_anchor=(1.0, 1.0)) if legend_outside else dict(loc="lower right")
    axes[0][-1].legend(title=hue.replace("_", " "), frameon=False, **where)
    return fig


def ci_points(cells: pd.DataFrame, *, x: str, hue: str, col: str | None = None, value: str = "perc_clean",
              ylabel: str = "AUC under attack, % of clean (perc_clean)", reference: float | None = 100.0,
              mark: str | None = None, mark_label: str = "", xlabel: str = "", legend_title: str = "",
              height: float = 3.2, panel_width: float = 3.8, means: bool = True, rotation: float = 0) -> plt.Figure:
    """One point per row with its bootstrap CI as an error bar, dodged by ``hue``, one panel per ``col``; with
    ``means``, a dotted line at each hue's mean over the panel's points; rows where the boolean column ``mark`` is
    true drawn as diamonds (labelled ``mark_label``); x labels turned by ``rotation`` degrees."""
    panels = list(dict.fromkeys(cells[col])) if col else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.2 + panel_width * len(panels), height), sharey=True,
                             squeeze=False)
    x_levels = list(dict.fromkeys(cells[x]))
    hue_levels = list(dict.fromkeys(cells[hue]))
    width = 0.5 / max(len(hue_levels) - 1, 1) if len(hue_levels) > 1 else 0.0
    colours = sns.color_palette(n_colors=len(hue_levels))
    for ax, panel in zip(axes[0], panels):
        data = cells if panel is None else cells[cells[col] == panel]
        for j, level in enumerate(hue_levels):
            part = data[data[hue] == level]
            colour = PALETTE.get(str(level), colours[j])
            pos = np.array([x_levels.index(v) for v in part[x]]) + (j - (len(hue_levels) - 1) / 2) * width
            err = np.vstack([part[value] - part["ci_low"], part["ci_high"] - part[value]])
            ax.errorbar(pos, part[value], yerr=err, fmt="none", ecolor=colour, capsize=3, lw=1.2)
            marked = part[mark].to_numpy(bool) if mark else np.zeros(len(part), bool)
            ax.scatter(pos[~marked], part[value][~marked], color=colour, s=36, zorder=3, label=str(level))
            if marked.any():
                ax.scatter(pos[marked], part[value][marked], color=colour, marker="D", s=52, zorder=4,
                           edgecolor="black", lw=0.8)
            if means and len(part):
                ax.axhline(part[value].mean(), color=colour, lw=0.9, ls=":")
        if reference is not None:
            ax.axhline(reference, color="black", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(x_levels)), [str(v) for v in x_levels], rotation=rotation,
                      ha="right" if rotation else "center", rotation_mode="anchor" if rotation else "default")
        ax.set_title(str(panel) if panel is not None else "")
        ax.set_xlabel(xlabel or x.replace("_", " "))
    axes[0][0].set_ylabel(ylabel)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    if mark and cells[mark].any():
        handles.append(plt.Line2D([], [], marker="D", color="grey", markeredgecolor="black", ls="none"))
        labels.append(mark_label or mark)
    axes[0][-1].legend(handles, labels, title=legend_title or hue.replace("_", " "), frameon=False, loc="best",
                       fontsize=8)
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


def transfer_heatmaps(matrix: pd.DataFrame, *, rows: str = "surrogate", cols: str = "target", value: str = "perc_clean",
                      panel_rows: str = "domain", panel_cols: str = "attack", vmin: float = 0.0,
                      vmax: float = 110.0) -> plt.Figure:
    """One annotated heatmap per (``panel_rows``, ``panel_cols``): ``rows`` × ``cols`` cells of ``value``, in the
    order the cells appear (the white-box diagonal outlined)."""
    prow, pcol = list(dict.fromkeys(matrix[panel_rows])), list(dict.fromkeys(matrix[panel_cols]))
    order_r, order_c = list(dict.fromkeys(matrix[rows])), list(dict.fromkeys(matrix[cols]))
    fig, axes = plt.subplots(len(prow), len(pcol), figsize=(2.6 + 1.5 * len(order_c) * len(pcol),
                             0.8 + 0.9 * len(order_r) * len(prow)), squeeze=False)
    for i, pr in enumerate(prow):
        for j, pc in enumerate(pcol):
            part = matrix[(matrix[panel_rows] == pr) & (matrix[panel_cols] == pc)]
            grid = part.pivot_table(index=rows, columns=cols, values=value, aggfunc="mean").reindex(
                index=order_r, columns=order_c)
            ax = axes[i][j]
            sns.heatmap(grid, ax=ax, vmin=vmin, vmax=vmax, cmap="rocket", annot=True, fmt=".0f", cbar=j == len(pcol) - 1,
                        cbar_kws={"label": value} if j == len(pcol) - 1 else None, annot_kws={"fontsize": 8})
            for k, label in enumerate(order_r):
                if label in order_c:
                    ax.add_patch(plt.Rectangle((order_c.index(label), k), 1, 1, fill=False, lw=2, ec="#1b6ca8"))
            ax.set_title(f"{pr} · {str(pc).upper()}")
            ax.set_xlabel(f"{cols} (arch / init)")
            ax.set_ylabel(f"{rows} (arch / init)" if j == 0 else "")
            ax.tick_params(axis="x", rotation=30)
            ax.tick_params(axis="y", rotation=0, labelleft=j == 0)
    return fig


def trend_scatter(points: pd.DataFrame, band: pd.DataFrame, *, x: str, y: str, hue: str, style: str | None = None,
                  xlabel: str = "", ylabel: str = "", xerr: tuple[str, str] | None = None,
                  yerr: tuple[str, str] | None = None) -> plt.Figure:
    """Points with optional CI error bars, a fitted line (``band``: x, fit, low, high) and its CI band."""
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    if yerr or xerr:
        ax.errorbar(points[x], points[y], fmt="none", ecolor="#bbbbbb", capsize=2, zorder=1,
                    xerr=None if xerr is None else [points[x] - points[xerr[0]], points[xerr[1]] - points[x]],
                    yerr=None if yerr is None else [points[y] - points[yerr[0]], points[yerr[1]] - points[y]])
    sns.scatterplot(data=points, x=x, y=y, hue=hue, style=style, s=70, ax=ax, zorder=3)
    if len(band) and band["fit"].notna().any():
        ax.plot(band["x"], band["fit"], color="black", lw=1.2, label="linear fit")
        if band["low"].notna().any():
            ax.fill_between(band["x"], band["low"], band["high"], color="black", alpha=0.12, lw=0, label="95% CI")
    ax.axhline(0, color="black", lw=0.6, ls=":")
    ax.axvline(0, color="black", lw=0.6, ls=":")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.legend(frameon=False, fontsize=8, loc="best")
    return fig


def image_grid(images: Sequence[Sequence[np.ndarray]], row_titles: Sequence[str],
               col_titles: Sequence[str]) -> plt.Figure:
    """Rows of images (H×W×C floats in [0, 1], or H×W; None leaves a cell empty) with row and column titles."""
    n_rows, n_cols = len(images), max(len(r) for r in images)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.7 * n_cols + 0.8, 1.8 * n_rows), squeeze=False)
    for i, row in enumerate(images):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            image = row[j] if j < len(row) else None
            if image is not None:
                image = np.asarray(image)
                image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
                ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            if i == 0:
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=9)
    return fig


#: A factor table's x axis that joins the target's and the surrogate's initialisation.
INIT_PAIR = "init (target / surrogate)"


def table_bars(cells: pd.DataFrame, *, x: str) -> plt.Figure:
    """A factor table's adversarial cells as ``ci_bars``, same vs different architecture, one panel per domain and
    attack; ``x`` is a column of the cells or ``INIT_PAIR``."""
    part = cells[cells.perturbation == ADVERSARIAL].copy()
    if x == INIT_PAIR:
        part[x] = part.target_init + " / " + part.surrogate_init
    part["panel"] = part.domain + " · " + part.attack.str.upper()
    return ci_bars(part, x=x, hue="architecture", col="panel")


def eps_curves(cells: pd.DataFrame, domains: Sequence[str], attacks: Sequence[str]) -> plt.Figure:
    """perc_clean against eps with CI error bars, one curve per threat and perturbation, one panel per domain and
    attack (the perturbation page's sweep)."""
    cells = cells.assign(curve=cells.threat + ", " + cells.perturbation)
    fig, axes = plt.subplots(len(domains), len(attacks), figsize=(4.2 * len(attacks), 3.2 * len(domains)),
                             squeeze=False, sharey=True)
    for i, domain in enumerate(domains):
        for j, attack in enumerate(attacks):
            ax = axes[i][j]
            for curve, part in cells[(cells.domain == domain) & (cells.attack == attack)].groupby("curve"):
                part = part.sort_values("eps")
                ax.errorbar(part.eps, part.perc_clean, yerr=[part.perc_clean - part.ci_low,
                                                             part.ci_high - part.perc_clean],
                            marker="o", capsize=3, label=curve)
            ax.axhline(100, color="black", lw=0.8, ls="--")
            ax.set_title(f"{domain} · {attack.upper()}")
            ax.set_xlabel(EPS_AXIS)
        axes[i][0].set_ylabel("perc_clean")
    axes[0][-1].legend(frameon=False, fontsize=8)
    return fig


def set_sizes(sizes: pd.DataFrame, domains: Sequence[str]) -> plt.Figure:
    """Training and validation images of each development set, one panel per domain."""
    shown = sizes[sizes.set != "test"].melt(id_vars=["domain", "set"], value_vars=["train", "validation"],
                                            var_name="split", value_name="images")
    fig, axes = plt.subplots(1, len(domains), figsize=(1.5 + 3.4 * len(domains), 3.0), squeeze=False, sharey=True)
    for ax, domain in zip(axes[0], domains):
        sns.barplot(data=shown[shown.domain == domain], x="set", y="images", hue="split", ax=ax)
        ax.set_title(domain)
    return fig


def unit_bars(counts: pd.DataFrame) -> plt.Figure:
    """Units per page and stage (``book.unit_counts``; its last row, the whole book, left out)."""
    shown = counts[counts.page != counts.page.iloc[-1]].melt(id_vars="page", value_vars=["train", "craft", "evaluate"],
                                                              var_name="stage", value_name="units")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    sns.barplot(data=shown, x="page", y="units", hue="stage", ax=ax)
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=15)
    return fig
