"""Confusion matrix, accuracy, precision, recall and F1, from counts you can check by hand.

Conventions: rows of a confusion matrix are the true classes, columns the predicted ones.
A ratio whose denominator is zero (no predicted positives, say) is 0.0, as in scikit-learn.

Used in lesson 06.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

Labels = torch.Tensor | Sequence[int]


def _as_labels(values: Labels, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of class indices; got shape {tuple(tensor.shape)}. "
                         "For logits, pass outputs.argmax(dim=1)")
    if tensor.is_floating_point():
        raise ValueError(f"{what} must hold integer class indices, not floats; for logits pass outputs.argmax(dim=1)")
    return tensor.long()


def confusion_matrix(y_true: Labels, y_pred: Labels, num_classes: int | None = None) -> torch.Tensor:
    """``cm[i, j]`` counts the samples of true class ``i`` predicted as class ``j``."""
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if len(y_true) and min(int(y_true.min()), int(y_pred.min())) < 0:
        raise ValueError("class indices must be >= 0")
    seen = int(max(y_true.max(), y_pred.max())) + 1 if len(y_true) else 0
    if num_classes is None:
        num_classes = seen
    elif seen > num_classes:
        raise ValueError(f"a label is {seen - 1} but num_classes is {num_classes}")
    flat = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def accuracy(y_true: Labels, y_pred: Labels) -> float:
    """Fraction of predictions that are right."""
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(f"need two equally long, non-empty label sequences; got {len(y_true)} and {len(y_pred)}")
    return float((y_true == y_pred).float().mean())


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


@dataclass(frozen=True)
class BinaryMetrics:
    """The confusion counts of a binary classifier and the four figures they give."""

    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float   # (TP + TN) / all
    precision: float  # of everything flagged positive, how much was positive: TP / (TP + FP)
    recall: float     # of everything positive, how much was flagged: TP / (TP + FN)
    f1: float         # harmonic mean of precision and recall

    def __str__(self) -> str:
        return (f"TP {self.tp}, FP {self.fp}, TN {self.tn}, FN {self.fn}: accuracy {self.accuracy:.3f}, "
                f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f}")


def binary_metrics(tp: int, fp: int, tn: int, fn: int) -> BinaryMetrics:
    """Accuracy, precision, recall and F1 from TP/FP/TN/FN counts (0.0 where a denominator is 0).

    >>> m = binary_metrics(tp=85, fp=15, tn=90, fn=10)
    >>> round(m.precision, 4), round(m.recall, 4), round(m.f1, 3)
    (0.85, 0.8947, 0.872)

    Used in lesson 06 (Exercise 1 writes it).
    """
    counts = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a count (an int >= 0); got {value!r}")
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return BinaryMetrics(tp=tp, fp=fp, tn=tn, fn=fn, accuracy=_ratio(tp + tn, tp + fp + tn + fn),
                         precision=precision, recall=recall, f1=_ratio(2 * precision * recall, precision + recall))


def binary_counts(y_true: Labels, y_pred: Labels, positive: int = 1) -> BinaryMetrics:
    """TP/FP/TN/FN of ``positive`` against everything else, and the figures they give.

    Used in lesson 06 (Exercise 2 writes it).
    """
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    seen = int(max(y_true.max(), y_pred.max())) + 1 if len(y_true) else 0
    cm = confusion_matrix(y_true, y_pred, num_classes=max(2, positive + 1, seen))
    tp = int(cm[positive, positive])
    fp = int(cm[:, positive].sum()) - tp
    fn = int(cm[positive, :].sum()) - tp
    return binary_metrics(tp=tp, fp=fp, tn=int(cm.sum()) - tp - fp - fn, fn=fn)


def per_class_metrics(cm: torch.Tensor) -> dict[str, list[float] | float]:
    """Precision, recall, F1 and support of each class, and their unweighted (macro) means."""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square; got shape {tuple(cm.shape)}")
    report: dict[str, list[float] | float] = {"precision": [], "recall": [], "f1": [], "support": []}
    for k in range(cm.shape[0]):
        m = binary_metrics(tp=int(cm[k, k]), fp=int(cm[:, k].sum() - cm[k, k]),
                           fn=int(cm[k, :].sum() - cm[k, k]), tn=0)
        report["precision"].append(m.precision)
        report["recall"].append(m.recall)
        report["f1"].append(m.f1)
        report["support"].append(int(cm[k, :].sum()))
    for name in ("precision", "recall", "f1"):
        values = report[name]
        report[f"macro_{name}"] = sum(values) / len(values)
    return report


def classification_report(cm: torch.Tensor, class_names: Sequence[str]) -> str:
    """A table of per-class precision, recall, F1 and support, then accuracy and macro means."""
    if len(class_names) != cm.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {cm.shape[0]}-class confusion matrix")
    report = per_class_metrics(cm)
    width = max(12, *(len(n) for n in class_names))
    lines = [f"{'':{width}}  precision  recall     f1  support"]
    for k, name in enumerate(class_names):
        lines.append(f"{name:{width}}  {report['precision'][k]:9.3f}  {report['recall'][k]:6.3f}  "
                     f"{report['f1'][k]:5.3f}  {report['support'][k]:7d}")
    total = int(cm.sum())
    lines.append(f"{'accuracy':{width}}  {'':9}  {'':6}  {_ratio(int(cm.trace()), total):5.3f}  {total:7d}")
    lines.append(f"{'macro avg':{width}}  {report['macro_precision']:9.3f}  {report['macro_recall']:6.3f}  "
                 f"{report['macro_f1']:5.3f}  {total:7d}")
    return "\n".join(lines)
