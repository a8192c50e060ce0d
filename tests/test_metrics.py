"""Metrics against hand-counted oracles, including the seed's worked example."""

import pytest
import torch

from finetune_course.metrics import (accuracy, binary_counts, binary_metrics, classification_report,
                                     confusion_matrix, per_class_metrics)


def test_seed_example_tp85_fp15_tn90_fn10():
    m = binary_metrics(tp=85, fp=15, tn=90, fn=10)
    assert m.precision == pytest.approx(0.85)
    assert m.recall == pytest.approx(85 / 95) and round(m.recall, 4) == 0.8947
    # 2PR/(P+R) = 0.87179...; the seed writes "about 0.871", i.e. truncated
    assert m.f1 == pytest.approx(2 * 0.85 * (85 / 95) / (0.85 + 85 / 95)) and 0.871 < m.f1 < 0.872
    assert m.accuracy == pytest.approx(175 / 200)
    assert "precision 0.850, recall 0.895, F1 0.872" in str(m)


def test_fraud_self_check_high_accuracy_low_recall():
    # 1000 transactions, 25 frauds, 3 caught, no false alarms: accuracy 97.8 %, recall 12 %.
    m = binary_metrics(tp=3, fp=0, tn=975, fn=22)
    assert m.accuracy > 0.97 and m.recall == pytest.approx(0.12)


def test_zero_denominators_give_zero_not_nan():
    m = binary_metrics(tp=0, fp=0, tn=10, fn=5)
    assert (m.precision, m.recall, m.f1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_binary_metrics_needs_counts(bad):
    with pytest.raises(ValueError, match="count"):
        binary_metrics(tp=bad, fp=0, tn=0, fn=0)


def test_confusion_matrix_matches_hand_count():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    expected = torch.tensor([[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert torch.equal(confusion_matrix(y_true, y_pred), expected)
    assert torch.equal(confusion_matrix(torch.tensor(y_true), torch.tensor(y_pred), num_classes=4)[:3, :3], expected)
    assert accuracy(y_true, y_pred) == pytest.approx(6 / 9)


def test_per_class_metrics_agree_with_one_vs_rest_counts():
    y_true = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 1, 2, 2, 2, 0, 2])
    report = per_class_metrics(confusion_matrix(y_true, y_pred))
    for k in range(3):
        oracle = binary_counts((y_true == k).long(), (y_pred == k).long())
        assert report["precision"][k] == pytest.approx(oracle.precision)
        assert report["recall"][k] == pytest.approx(oracle.recall)
        assert report["f1"][k] == pytest.approx(oracle.f1)
    assert report["support"] == [2, 3, 4]
    assert report["macro_f1"] == pytest.approx(sum(report["f1"]) / 3)


def test_binary_counts_from_labels():
    m = binary_counts([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 1, 1, 1)
    # one class against the rest, with labels above the positive one
    m = binary_counts([0, 1, 2, 3, 1, 4], [1, 1, 2, 1, 0, 4], positive=1)
    assert (m.tp, m.fp, m.tn, m.fn) == (1, 2, 2, 1)


def test_classification_report_lists_every_class():
    cm = torch.tensor([[5, 1], [2, 4]])
    text = classification_report(cm, ["cat", "dog"])
    lines = text.splitlines()
    assert lines[1].split()[0] == "cat" and lines[2].split()[0] == "dog"
    assert "0.750" in lines[3]  # accuracy (5 + 4) / 12
    with pytest.raises(ValueError, match="3 class names"):
        classification_report(cm, ["a", "b", "c"])


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1], [0], "2 labels but y_pred has 1"),
    ([[0, 1]], [[0, 1]], "1-D"),
    ([0.0, 1.0], [0, 1], "integer class indices"),
    ([0, -1], [0, 1], ">= 0"),
])
def test_confusion_matrix_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(y_true, y_pred)


def test_confusion_matrix_label_beyond_num_classes():
    with pytest.raises(ValueError, match="num_classes is 2"):
        confusion_matrix([0, 2], [0, 1], num_classes=2)
