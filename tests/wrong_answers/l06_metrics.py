"""Lesson 06: metrics."""

from simulate import right, wrong

LESSON = "06_metrics"
VARIANTS = [
    wrong("binary_metrics", "no zero-denominator guard", "precision = tp / (tp + fp)\nrecall = tp / (tp + fn)\n"
          "f1 = 2 * precision * recall / (precision + recall)"),
    wrong("binary_metrics", "F1 as the arithmetic mean", "precision = tp / (tp + fp) if tp + fp else 0.0\n"
          "recall = tp / (tp + fn) if tp + fn else 0.0\nf1 = (precision + recall) / 2"),
    wrong("binary_metrics", "F1 guarded on tp + fp only", "precision = tp / (tp + fp) if tp + fp else 0.0\n"
          "recall = tp / (tp + fn) if tp + fn else 0.0\n"
          "f1 = 2 * precision * recall / (precision + recall) if tp + fp else 0.0"),
    right("binary_metrics", "max(..., 1) denominators and F1 from the counts",
          "precision = tp / max(tp + fp, 1)\nrecall = tp / max(tp + fn, 1)\nf1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0"),

    wrong("binary_counts", "false positives and false negatives swapped",
          "tp = int((is_positive & said_positive).sum())\nfp = int((is_positive & ~said_positive).sum())\n"
          "tn = int((~is_positive & ~said_positive).sum())\nfn = int((~is_positive & said_positive).sum())"),
    wrong("binary_counts", "TN as everything that is not a TP",
          "tp = int((is_positive & said_positive).sum())\nfp = int((~is_positive & said_positive).sum())\n"
          "tn = len(y_true) - tp\nfn = int((is_positive & ~said_positive).sum())"),
    wrong("binary_counts", "class 1 instead of `positive`",
          "tp = int(((y_true == 1) & (y_pred == 1)).sum())\nfp = int(((y_true != 1) & (y_pred == 1)).sum())\n"
          "tn = int(((y_true != 1) & (y_pred != 1)).sum())\nfn = int(((y_true == 1) & (y_pred != 1)).sum())"),
    right("binary_counts", "item() and subtraction",
          "tp = (is_positive & said_positive).sum().item()\nfp = said_positive.sum().item() - tp\n"
          "fn = is_positive.sum().item() - tp\ntn = len(y_true) - tp - fp - fn"),

    wrong("predict_at_threshold", "argmax, whatever the threshold", "return outputs.argmax(dim=1)"),
    wrong("predict_at_threshold", "the raw logit against the threshold", "return (outputs[:, 1] >= threshold).long()"),
    wrong("predict_at_threshold", "strictly above the threshold", "probs = outputs.softmax(dim=1)[:, 1]\n"
          "return (probs > threshold).long()"),
    right("predict_at_threshold", "sigmoid of the logit difference",
          "return (torch.sigmoid(outputs[:, 1] - outputs[:, 0]) >= threshold).to(torch.long)"),

    right("threshold_for_recall", "counting by hand",
          "predictions = (probs >= threshold).long()\n"
          "recall = ((predictions == 1) & (labels == 1)).sum().item() / (labels == 1).sum().item()"),
    wrong("threshold_for_recall", "strictly above the threshold",
          "predictions = (probs > threshold).long()\nrecall = metrics.binary_counts(labels, predictions).recall"),
    wrong("threshold_for_recall", "precision instead of recall",
          "predictions = (probs >= threshold).long()\nrecall = metrics.binary_counts(labels, predictions).precision"),
    # graded together with binary_counts' right alternative (both fourth), so it uses a right binary_counts
    right("threshold_for_recall", "the student's own binary_counts from Exercise 2",
          "predictions = (probs >= threshold).long()\nrecall = binary_counts(labels, predictions).recall"),
]
