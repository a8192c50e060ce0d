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
    assert meta["recipe"]["command"] == ("finetune-course pretrain --epochs 1 --per-class 2 --batch-size 64 "
                                         "--lr 0.002 --seed 0")
    assert 0.0 <= meta["source_val_acc"] <= 1.0
