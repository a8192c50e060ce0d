"""The command line: the demo's whole pipeline on a small budget, pretrain, and argument errors."""

import json
import subprocess
import sys

import pytest

from finetune_course.cli import main
from finetune_course.demo import DemoConfig, run_demo
from finetune_course.weights import load_checkpoint


def test_help_lists_the_three_commands():
    out = subprocess.run([sys.executable, "-m", "finetune_course", "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "pretrain", "bench"):
        assert command in out.stdout


def test_bad_arguments_exit_2_with_a_message(capsys):
    assert main(["demo", "--per-class", "0"]) == 2
    assert "--per-class must be at least 1; got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_demo_pipeline_writes_figures_and_results(tmp_path, capsys):
    config = DemoConfig(per_class=4, head_epochs=2, stage2_epochs=1)
    summary = run_demo(out_dir=tmp_path, config=config, progress=False)
    for name in ("curves", "confusion_matrix", "samples", "weight_changes"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["runs"].keys() == {"head-only", "staged", "scratch"}
    assert saved["runs"]["head-only"]["epochs"] == 2 and saved["runs"]["staged"]["epochs"] == 3
    assert saved["runs"]["scratch"]["epochs"] == 3
    assert saved["runs"]["head-only"]["trainable"] == 2565
    # stage 2 trains layer4's convolutions (8,393,728 parameters in layer4, less 5 BatchNorms of 1,024)
    assert saved["runs"]["staged"]["trainable"] == 2565 + 8393728 - 5 * 1024
    assert summary["runs"]["scratch"]["trainable"] == 11179077
    out = capsys.readouterr().out
    assert "head-only" in out and "held-out acc" in out and str(tmp_path / "curves.png") in out


@pytest.mark.slow
def test_pretrain_writes_a_verifiable_checkpoint(tmp_path):
    assert main(["pretrain", "--out", str(tmp_path), "--epochs", "1", "--per-class", "2", "--no-progress"]) == 0
    state, meta = load_checkpoint(tmp_path / "resnet18_shapes_v1.pt")
    assert state["fc.weight"].shape == (12, 512)
    assert meta["recipe"]["command"] == ("finetune-course pretrain --arch resnet18 --epochs 1 --per-class 2 "
                                         "--batch-size 64 --lr 0.002 --seed 0")
    assert meta["storage"] == "float16" and 0.0 <= meta["source_val_acc_float32"] <= 1.0
    assert 0.0 <= meta["source_val_acc"] <= 1.0


def test_channel_stats_match_numpy():
    import numpy as np
    import torch

    from finetune_course.pretrain import channel_stats

    images = torch.randint(0, 256, (6, 3, 5, 7), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = images.numpy().astype(np.float64) / 255
    assert mean == [round(float(v), 4) for v in x.mean(axis=(0, 2, 3))]
    assert std == [round(float(v), 4) for v in x.std(axis=(0, 2, 3), ddof=1)]


@pytest.mark.slow
def test_bench_head_only_reports_consistent_figures():
    from finetune_course.bench import bench_head_only

    figures = bench_head_only(num_epochs=2, per_class=4)
    assert figures["train_images"] == 20 and figures["device"] in ("cpu", "cuda", "mps")
    assert figures["cached_over_forward"] == pytest.approx(figures["cached_s"] / figures["forward_s"], rel=0.05)
    assert figures["max_head_difference"] < 1e-5, "cached and naive training must give the same head"
    assert figures["naive_s"] > figures["forward_s"], "the naive loop runs the backbone every epoch"
