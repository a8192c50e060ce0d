"""The course's recipe for your own pictures: ``finetune-course finetune`` and ``predict``.

    finetune-course finetune photos/train --val photos/val --out my_model
    finetune-course predict my_model holiday/cat.jpg holiday/dog.png

``finetune`` runs lesson 07's staged recipe on a folder with one sub-folder per class:

1. the pretrained backbone frozen, a new head trained on cached features (the backbone runs
   once over the pictures);
2. the last block's convolutions unfrozen (its BatchNorm layers stay frozen, lesson 02), a new
   optimizer with the backbone ten times slower than the head, training on mirrored pictures;

and keeps the epoch, of either stage, with the best validation accuracy. Without ``--val`` a
stratified fifth of each class is held out. The model folder gets ``model.pt``, ``model.json``
(architecture, class names, preprocessing, the kept epoch and its accuracy) and a report:
``report.md``, ``curves.png``, ``confusion_matrix.png``.

Bad input stops with an error that says what was expected; nothing in the picture folders is
changed, and nothing already in the model folder is overwritten unless asked.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from finetune_course.data import make_loader
from finetune_course.metrics import classification_report, confusion_matrix
from finetune_course.models import freeze_all, get_head, load_model, param_groups
from finetune_course.train import History, fit, fit_cached, pick_device, predict, seed_everything
from finetune_course.weights import ImageTransform, check_arch, get_weights

SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing"}
# The modules each architecture's stage 2 unfreezes.
LAST_BLOCK = {"resnet18": r"^layer4\.", "resnet50": r"^layer4\.", "mobilenet_v2": r"^features\.(16|17|18)\."}


class FinetuneError(ValueError):
    """The input cannot be fine-tuned on, or predicted with; the message says why and what to do."""


@dataclass(frozen=True)
class Prediction:
    file: str
    label: str
    probability: float


# -- reading a folder of pictures -------------------------------------------------------------
def read_folder(root: str | Path, transform=None):
    """``root``'s pictures as an ``ImageFolder``, after the checks a person would make first."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS  # the files ImageFolder reads

    root = Path(root).expanduser()
    if not root.is_dir():
        raise FinetuneError(f"{root} is not a folder; expected a folder with one sub-folder of pictures per class, "
                            "e.g. photos/train/cats/1.jpg and photos/train/dogs/2.jpg")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes and {p.name.lower() for p in classes} <= SPLIT_NAMES and all(
            any(q.is_dir() for q in p.iterdir()) for p in classes):
        names = "/, ".join(p.name for p in classes)
        train = next((p for p in classes if p.name.lower() in ("train", "training")), classes[0])
        val = next((p for p in classes if p.name.lower() in ("val", "valid", "validation")), None)
        raise FinetuneError(f"{root} holds {names}/, which look like splits, not classes: give the training folder "
                            f"itself ({root / train.name}) and the validation one with --val"
                            + (f" ({root / val.name})" if val else ""))
    if len(classes) < 2:
        raise FinetuneError(f"{root} has {len(classes)} class folder(s) ({', '.join(p.name for p in classes) or 'none'}); "
                            "a classifier needs at least two, one sub-folder of pictures per class")
    for folder in classes:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise FinetuneError(f"class folder {folder} is empty: put its pictures in, or remove the folder")
        for path in files:
            if path.suffix.lower() not in IMG_EXTENSIONS:
                raise FinetuneError(f"{path} is not a picture (expected one of {', '.join(IMG_EXTENSIONS)}): "
                                    "move it out of the class folder")
            try:
                with Image.open(path) as image:
                    image.verify()
            except (UnidentifiedImageError, OSError) as err:
                raise FinetuneError(f"{path} is not a picture that can be read ({err}): replace or remove it") from None
    return ImageFolder(str(root), transform=transform)


def stratified_split(targets: list[int], fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, val): ``fraction`` of each class held out (at least one picture), the rest trained on."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in sorted(set(targets)):
        members = [i for i, t in enumerate(targets) if t == label]
        if len(members) < 2:
            raise FinetuneError(f"class {label} has {len(members)} picture: to hold some out for validation each "
                                "class needs at least 2 (or give a validation folder with --val)")
        order = [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
        held = max(1, round(fraction * len(members)))
        val += order[:held]
        train += order[held:]
    return sorted(train), sorted(val)


class _Views(torch.utils.data.Dataset):
    """The same pictures through another transform (training augmentation vs plain preprocessing)."""

    def __init__(self, dataset, indices: list[int], transform):
        self.dataset, self.indices, self.transform = dataset, indices, transform
        self.targets = [dataset.targets[i] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        path, label = self.dataset.samples[self.indices[i]]
        return self.transform(self.dataset.loader(path)), label


# -- the recipe ------------------------------------------------------------------------------
def unfreeze_last_block(model: nn.Module, arch: str) -> list[str]:
    """Makes the convolutions of the architecture's last block trainable; its BatchNorm stays frozen."""
    pattern = re.compile(LAST_BLOCK[check_arch(arch)])
    names = []
    for name, module in model.named_modules():
        if pattern.search(name + ".") and isinstance(module, nn.Conv2d):
            module.requires_grad_(True)
            names.append(name)
    return names


def finetune(train_dir: str | Path, out: str | Path, *, val_dir: str | Path | None = None, arch: str = "resnet18",
             weights: str = "course", head_epochs: int = 10, block_epochs: int = 8, batch_size: int = 32,
             seed: int = 0, device: str | None = None, progress: bool = True, overwrite: bool = False) -> dict:
    """Fine-tunes ``arch`` on the pictures in ``train_dir`` and writes the model folder ``out``; returns its summary."""
    from torchvision.transforms import v2

    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FinetuneError(f"{out} is not empty; give a new folder for the model (or --overwrite to replace a model "
                            "written there before)")
    pretrained = get_weights(weights, arch=arch)
    if pretrained is None:
        raise FinetuneError("fine-tuning starts from pretrained weights: use --weights course or imagenet")
    preprocess = pretrained.transforms()
    augment = v2.Compose([v2.RandomHorizontalFlip(), preprocess])
    seed_everything(seed)
    train_folder = read_folder(train_dir)
    classes = train_folder.classes
    if val_dir is not None:
        val_folder = read_folder(val_dir)
        if val_folder.classes != classes:
            raise FinetuneError(f"the validation folder's classes {val_folder.classes} differ from the training "
                                f"folder's {classes}: give both the same class sub-folders")
        train_idx, val_idx = list(range(len(train_folder))), list(range(len(val_folder)))
    else:
        val_folder = train_folder
        train_idx, val_idx = stratified_split(train_folder.targets, seed=seed)
    train_plain = _Views(train_folder, train_idx, preprocess)
    val_set = _Views(val_folder, val_idx, preprocess)
    train_loader = make_loader(train_plain, batch_size=batch_size, shuffle=True, seed=seed)
    augmented_loader = make_loader(_Views(train_folder, train_idx, augment), batch_size=batch_size, shuffle=True, seed=seed)
    val_loader = make_loader(val_set, batch_size=2 * batch_size)

    device = pick_device(device)
    model = load_model(arch=arch, weights=pretrained, num_classes=len(classes))
    freeze_all(model, verbose=False)
    get_head(model).requires_grad_(True)
    best = {"val_acc": -1.0}
    stage_of_epoch: list[int] = []

    def keep_best(stage: int):
        def on_epoch(history: History) -> None:
            stage_of_epoch.append(stage)
            if history.val_acc[-1] > best["val_acc"]:
                best.update(val_acc=history.val_acc[-1], epoch=len(stage_of_epoch), stage=stage,
                            state=copy.deepcopy(model.state_dict()))
        return on_epoch

    optimizer = torch.optim.Adam(param_groups(model, head_lr=1e-2, verbose=False))
    history = fit_cached(model, train_loader, val_loader, optimizer=optimizer, num_epochs=head_epochs,
                         device=device, progress=progress, on_epoch=keep_best(1))
    if block_epochs:
        unfreeze_last_block(model, arch)
        optimizer = torch.optim.Adam(param_groups(model, head_lr=1e-3, backbone_lr=1e-4, verbose=False))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=block_epochs)
        history = history + fit(model, augmented_loader, val_loader, optimizer=optimizer, num_epochs=block_epochs,
                                scheduler=scheduler, device=device, progress=progress, on_epoch=keep_best(2))
    model.load_state_dict(best["state"])
    outputs, labels = predict(model, val_loader)
    return _write_model_folder(out, model, arch=arch, weights=weights, classes=classes, preprocess=preprocess,
                               history=history, stages=stage_of_epoch, best=best, outputs=outputs, labels=labels,
                               train_dir=train_dir, val_dir=val_dir, sizes=(len(train_idx), len(val_idx)))


def _write_model_folder(out: Path, model, *, arch, weights, classes, preprocess, history, stages, best, outputs, labels,
                        train_dir, val_dir, sizes) -> dict:
    from finetune_course.plots import plot_confusion_matrix, plot_curves

    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out / "model.pt")
    cm = confusion_matrix(labels, outputs.argmax(dim=1), num_classes=len(classes))
    summary = {
        "arch": arch, "weights": weights, "classes": classes,
        "preprocessing": {"input_size": _size(preprocess, "crop_size"), "resize_size": _size(preprocess, "resize_size"),
                          "mean": list(preprocess.mean), "std": list(preprocess.std)},
        "kept_epoch": best["epoch"], "kept_stage": best["stage"], "val_acc": round(best["val_acc"], 4),
        "train_pictures": sizes[0], "val_pictures": sizes[1],
        "train_dir": str(Path(train_dir).resolve()), "val_dir": str(Path(val_dir).resolve()) if val_dir else None,
        "history": {**history.to_dict(), "stage": stages},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (out / "model.json").write_text(json.dumps(summary, indent=1) + "\n")
    figure = plot_curves({"fine-tuning": history}, marks={"stage 2": stages.count(1) + 0.5} if 2 in stages else None,
                         title=f"{arch}, {weights} weights: kept epoch {best['epoch']}")
    figure.savefig(out / "curves.png", dpi=100)
    plot_confusion_matrix(cm, classes, title="validation pictures, kept epoch").savefig(out / "confusion_matrix.png",
                                                                                        dpi=100)
    rows = [f"| {i + 1} | {stage} | {history.train_loss[i]:.3f} | {history.train_acc[i]:.3f} | "
            f"{history.val_loss[i]:.3f} | {history.val_acc[i]:.3f} | {'kept' if i + 1 == best['epoch'] else ''} |"
            for i, stage in enumerate(stages)]
    (out / "report.md").write_text("\n".join([
        f"# {arch} fine-tuned on {summary['train_dir']}", "",
        f"{len(classes)} classes, {sizes[0]} training and {sizes[1]} validation pictures, {weights} weights. Stage 1 "
        "trains the new head on a frozen backbone; stage 2 unfreezes the last block's convolutions.", "",
        f"Kept: epoch {best['epoch']} (stage {best['stage']}), validation accuracy {best['val_acc']:.3f}.", "",
        "| epoch | stage | train loss | train acc | val loss | val acc | |", "|---|---|---|---|---|---|---|", *rows, "",
        "```", classification_report(cm, classes), "```", "",
        "![learning curves](curves.png)", "", "![confusion matrix](confusion_matrix.png)", ""]))
    return summary


def _size(preprocess, name: str) -> int:
    value = getattr(preprocess, name)
    return int(value[0] if isinstance(value, (list, tuple)) else value)


# -- using a fine-tuned model ----------------------------------------------------------------
def load_finetuned(model_dir: str | Path) -> tuple[nn.Module, list[str], nn.Module]:
    """The model a ``finetune`` run kept, its class names and its preprocessing."""
    model_dir = Path(model_dir).expanduser()
    meta_path, weights_path = model_dir / "model.json", model_dir / "model.pt"
    if not (meta_path.is_file() and weights_path.is_file()):
        raise FinetuneError(f"{model_dir} is not a model folder: expected model.json and model.pt, as "
                            "`finetune-course finetune ... --out MODEL_DIR` writes them")
    meta = json.loads(meta_path.read_text())
    model = load_model(arch=meta["arch"], weights=None, num_classes=len(meta["classes"]))
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    p = meta["preprocessing"]
    preprocess = ImageTransform(crop_size=p["input_size"], resize_size=p["resize_size"], mean=p["mean"], std=p["std"])
    return model.eval(), list(meta["classes"]), preprocess


def predict_files(model_dir: str | Path, files: list[str | Path]) -> list[Prediction]:
    """The class each picture most likely shows, and the model's probability for it."""
    from PIL import Image, UnidentifiedImageError

    model, classes, preprocess = load_finetuned(model_dir)
    results = []
    for file in files:
        path = Path(file).expanduser()
        if not path.is_file():
            raise FinetuneError(f"{path} does not exist")
        try:
            with Image.open(path) as image:
                picture = preprocess(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise FinetuneError(f"{path} is not a picture that can be read ({err})") from None
        with torch.inference_mode():
            probabilities = model(picture.unsqueeze(0)).softmax(dim=1)[0]
        best = int(probabilities.argmax())
        results.append(Prediction(str(file), classes[best], float(probabilities[best])))
    return results
