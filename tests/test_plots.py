"""Each figure draws what it is given, and refuses input it cannot draw."""

import pytest
import torch

from finetune_course.plots import plot_confusion_matrix, plot_curves, plot_samples, plot_weight_changes
from finetune_course.train import History


def test_curves_draw_train_and_heldout_lines_per_run():
    a = History([1.0, 0.5], [0.5, 0.8], [1.1, 0.7], [0.4, 0.7], [1.0, 2.0])
    b = {"train_loss": [2.0, 1.5, 1.0], "train_acc": [0.2, 0.3, 0.4], "val_loss": [], "val_acc": [], "seconds": []}
    fig = plot_curves({"fine-tuned": a, "scratch": b}, title="t")
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 3 and len(ax_acc.lines) == 3  # b has no held-out curve
    assert list(ax_acc.lines[1].get_ydata()) == [0.4, 0.7]
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()][:2] == ["fine-tuned (train)", "fine-tuned (held-out)"]
    assert ax_loss.get_yscale() == "linear"
    assert plot_curves({"a": a}, log_loss=True, marks={"stage 2": 1.5}).axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="at least one run"):
        plot_curves({})


def test_a_run_that_a_later_one_repeats_stays_visible_under_it():
    """The demo's staged run starts as head-only does: drawn on top, it must not hide head-only's curve."""
    import numpy as np

    head_only = History([1.0, 0.5, 0.3], [0.5, 0.8, 0.9], [1.1, 0.7, 0.6], [0.4, 0.7, 0.8], [1, 2, 3])
    staged = History(head_only.train_loss + [0.2], head_only.train_acc + [0.95], head_only.val_loss + [0.5],
                     head_only.val_acc + [0.85], [1, 2, 3, 4])
    scratch = History([2.0, 1.8, 1.5, 1.2], [0.2, 0.3, 0.4, 0.5], [2.0, 2.1, 2.2, 2.3], [0.2, 0.2, 0.25, 0.2], [1] * 4)

    def pixels_of_first_run(histories):
        fig = plot_curves(histories)
        fig.axes[1].get_legend().remove()  # only the curves
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
        return int((np.abs(rgb - np.array([31, 119, 180])).sum(axis=-1) < 30).sum())  # C0, the first run's colour

    alone = pixels_of_first_run({"head-only": head_only})
    under = pixels_of_first_run({"head-only": head_only, "staged": staged, "scratch": scratch})
    assert under >= 0.5 * alone, f"head-only shows {under} pixels under staged, {alone} alone"
    widths = [line.get_linewidth() for line in plot_curves({"head-only": head_only, "staged": staged,
                                                            "scratch": scratch}).axes[1].lines]
    assert widths[0] > widths[2] == widths[4], "only the repeated run is drawn wider"


def test_confusion_matrix_picture_shows_every_count():
    cm = torch.tensor([[5, 1], [2, 7]])
    fig = plot_confusion_matrix(cm, ["cat", "dog"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["1", "2", "5", "7"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["cat", "dog"]
    with pytest.raises(ValueError, match="one row per class name"):
        plot_confusion_matrix(cm, ["cat"])


def test_sample_grid_marks_wrong_predictions_red():
    images = torch.randint(0, 255, (5, 3, 8, 8), dtype=torch.uint8)
    fig = plot_samples(images, [0, 1, 0, 1, 0], ["a", "b"], predictions=[0, 0, 0, 1, 0], columns=3)
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes[:5]]
    assert titles[0] == ("a", "green") and titles[1] == ("a\n(true: b)", "red")
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="N labels"):
        plot_samples(images, [0], ["a"])


def test_weight_changes_group_by_block_and_compare_runs():
    changes = {"conv1.weight": 0.01, "layer4.0.conv1.weight": 0.2, "layer4.0.bn1.weight": 0.3, "layer4.1.conv1.weight": 0.1}
    fig = plot_weight_changes({"staged": changes, "scratch": {k: 1.0 for k in changes}})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "layer4.0", "layer4.1"]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == pytest.approx([0.01, 0.25, 0.1]) and heights[3:] == [1.0, 1.0, 1.0]
    assert plot_weight_changes(changes, log=True).axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="no weight changes"):
        plot_weight_changes({})
