"""Training and evaluation: ``train_one_epoch``, ``evaluate``, ``fit``, and head-only training on
cached features (``fit_cached``).

The loop is the one every lesson writes by hand::

    model.train()
    for inputs, labels in train_loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

plus what a real run needs: a device, mixed precision on CUDA, progress bars, a history.

Used in lessons 01, 05 and 07.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from tqdm.auto import tqdm

from finetune_course.models import frozen_batchnorm_eval, head_name


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` picks cuda, then mps, then cpu; otherwise checks the one asked for."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but PyTorch sees no CUDA GPU here; use device='cpu' or 'auto'")
    return device


def model_device(model: nn.Module) -> torch.device:
    """Where a model's weights are (its first parameter or buffer); the CPU for a model with none."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and PyTorch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    """Loss and accuracy per epoch; ``seconds`` is the wall time at the end of each epoch."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def num_epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    def __add__(self, later: History) -> History:
        """One history after the other (e.g. stage 1 + stage 2); ``later``'s times continue from ours."""
        offset = self.seconds[-1] if self.seconds else 0.0
        return History(self.train_loss + later.train_loss, self.train_acc + later.train_acc,
                       self.val_loss + later.val_loss, self.val_acc + later.val_acc,
                       self.seconds + [s + offset for s in later.seconds])


def _autocast(device: torch.device, amp: bool):
    if not amp or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _use_amp(device: torch.device, amp: bool | None) -> bool:
    return device.type == "cuda" if amp is None else amp and device.type == "cuda"


def _off(progress: bool) -> dict:
    """tqdm's ``disable`` only when progress is off: passing ``disable=False`` would override TQDM_DISABLE=1."""
    return {} if progress else {"disable": True}


def _batches(loader: DataLoader, desc: str, progress: bool):
    """Yields the loader's batches with a progress bar beside them.

    The bar is given the batch count, not the loader: wrapping the loader itself in ``tqdm``
    changed its shuffling (so a hand-written ``for inputs, labels in loader`` loop with the
    same seed would see other batches than this one).
    """
    with tqdm(total=len(loader), desc=desc, leave=False, **_off(progress)) as bar:
        for batch in loader:
            yield batch
            bar.update()


def _check_outputs(outputs: torch.Tensor, labels: torch.Tensor) -> None:
    if outputs.ndim != 2:
        raise ValueError(f"the model should output (batch, num_classes) logits; got shape {tuple(outputs.shape)}")
    if labels.numel() and int(labels.max()) >= outputs.shape[1]:
        raise ValueError(f"a label is {int(labels.max())} but the model has {outputs.shape[1]} outputs; "
                         "replace the head with one output per class (replace_head(model, num_classes))")


def train_one_epoch(model: nn.Module, train_loader: DataLoader, criterion: nn.Module,
                    optimizer: torch.optim.Optimizer, *, device: torch.device | str | None = None,
                    amp: bool | None = None, scheduler=None, progress: bool = True,
                    desc: str = "train", train_mode=None) -> tuple[float, float]:
    """One pass over ``train_loader``. Returns mean loss and accuracy over the epoch.

    Batches go to ``device``, by default the model's. Frozen BatchNorm layers are kept in
    eval mode (see ``frozen_batchnorm_eval``). ``scheduler`` (optional) is stepped after every
    batch, as ``OneCycleLR`` expects. ``train_mode(model)`` (optional) replaces that switch to
    training mode, e.g. ``models.batchnorm_statistics_eval``, which keeps every BatchNorm's
    statistics fixed, trainable or not.

    Used in lessons 05 (Exercise 2 writes it) and 09.
    """
    device = model_device(model) if device is None else pick_device(device)
    amp = _use_amp(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and not torch.cuda.is_bf16_supported())
    if train_mode is None:
        model.train()
        frozen_batchnorm_eval(model)
    else:
        train_mode(model)
    total_loss, correct, seen = 0.0, 0, 0
    for inputs, labels in _batches(train_loader, desc, progress):
        inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            outputs = model(inputs)
            _check_outputs(outputs, labels)
            loss = criterion(outputs, labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += (outputs.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return total_loss / seen, correct / seen


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, *, device: torch.device | str | None = None,
            amp: bool | None = None, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels for a whole loader, in eval mode, returned on the CPU.

    The model runs where it is, unless ``device`` says otherwise.
    """
    device = model_device(model) if device is None else pick_device(device)
    model.eval()
    all_outputs, all_labels = [], []
    for inputs, labels in _batches(loader, "predict", progress):
        with _autocast(device, _use_amp(device, amp)):
            outputs = model(inputs.to(device, non_blocking=True))
        all_outputs.append(outputs.float().cpu())
        all_labels.append(labels)
    return torch.cat(all_outputs), torch.cat(all_labels)


def evaluate(model: nn.Module, val_loader: DataLoader, criterion: nn.Module | None = None, *,
             device: torch.device | str | None = None, amp: bool | None = None,
             progress: bool = False) -> tuple[float, float]:
    """Mean loss and accuracy on ``val_loader`` in eval mode, without gradients, on the model's device.

    Used in lesson 05 (Exercise 3 writes it).
    """
    outputs, labels = predict(model, val_loader, device=device, amp=amp, progress=progress)
    _check_outputs(outputs, labels)
    criterion = criterion or nn.CrossEntropyLoss()
    return float(criterion(outputs, labels)), float((outputs.argmax(dim=1) == labels).float().mean())


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None = None, *,
        optimizer: torch.optim.Optimizer, num_epochs: int, criterion: nn.Module | None = None,
        scheduler=None, device: torch.device | str | None = None, amp: bool | None = None,
        progress: bool = True, desc: str = "epochs", on_epoch=None, train_mode=None) -> History:
    """Trains for ``num_epochs``, evaluating on ``val_loader`` after each; returns the history.

    ``scheduler`` (optional) is stepped once per epoch. ``on_epoch(history)`` (optional) is called
    after each epoch, e.g. to keep the weights of the best epoch so far. ``train_mode`` is passed
    to :func:`train_one_epoch`.
    """
    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive int; got {num_epochs!r}")
    device = pick_device(device)
    model.to(device)
    criterion = criterion or nn.CrossEntropyLoss()
    history = History()
    start = time.perf_counter()
    bar = tqdm(range(num_epochs), desc=desc, **_off(progress))
    for _ in bar:
        loss, acc = train_one_epoch(model, train_loader, criterion, optimizer, device=device,
                                    amp=amp, progress=progress, train_mode=train_mode)
        history.train_loss.append(loss)
        history.train_acc.append(acc)
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, criterion, device=device, amp=amp)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
        if scheduler is not None:
            scheduler.step()
        history.seconds.append(time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch(history)
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.2f}",
                        **({"val_acc": f"{history.val_acc[-1]:.2f}"} if val_loader is not None else {}))
    return history


def split_model(model: nn.Module, cut: str) -> tuple[nn.Sequential, nn.Sequential]:
    """Splits a model after its child ``cut`` into (body, tail).

    ``tail(body(x))`` equals ``model(x)``; the parts share the model's modules, so training
    the tail trains the model. Works for models whose forward runs their children in order
    with a flatten before the head (ResNet, VGG, EfficientNet), and for MobileNetV2, whose
    forward pools between ``features`` and ``classifier`` without a module for it.
    """
    names = [name for name, _ in model.named_children()]
    if cut not in names:
        raise ValueError(f"{type(model).__name__} has no child {cut!r}; its children are {names}")
    index = names.index(cut) + 1
    children = list(model.named_children())
    tail: list[nn.Module] = []
    pools_in_forward = "avgpool" not in names  # MobileNetV2: adaptive_avg_pool2d in forward()
    for name, module in children[index:]:
        if name in ("fc", "classifier"):
            if pools_in_forward:
                tail.append(nn.AdaptiveAvgPool2d(1))
            tail.append(nn.Flatten(1))
        tail.append(module)
    if not tail:
        raise ValueError(f"nothing comes after {cut!r}; cut earlier, e.g. 'avgpool' or 'layer3'")
    return nn.Sequential(*(m for _, m in children[:index])), nn.Sequential(*tail)


@torch.no_grad()
def extract_features(body: nn.Module, loader: DataLoader, *, device: torch.device | str | None = None,
                     progress: bool = False) -> TensorDataset:
    """Runs ``body`` once over ``loader`` (eval mode, on ``device`` or where it is) and keeps its
    outputs, on the CPU, with the labels."""
    device = model_device(body) if device is None else pick_device(device)
    body.to(device).eval()
    features, labels = [], []
    for inputs, batch_labels in _batches(loader, "cache features", progress):
        features.append(body(inputs.to(device, non_blocking=True)).float().cpu())
        labels.append(batch_labels)
    return TensorDataset(torch.cat(features), torch.cat(labels))


def _in_order(loader: DataLoader) -> DataLoader:
    return DataLoader(loader.dataset, batch_size=loader.batch_size, shuffle=False, num_workers=loader.num_workers)


def _like(loader: DataLoader, dataset: TensorDataset) -> DataLoader:
    """A loader over cached features that yields the same batches, in the same order, as ``loader``."""
    generator = None
    if isinstance(loader.sampler, RandomSampler):
        source = loader.sampler.generator or loader.generator
        generator = torch.Generator()
        if source is not None:
            generator.set_state(source.get_state())
    return DataLoader(dataset, batch_size=loader.batch_size, shuffle=generator is not None,
                      generator=generator, drop_last=loader.drop_last)


def default_cut(model: nn.Module) -> str:
    """The child just before the head's: what head-only training caches (``avgpool``, MobileNetV2's ``features``)."""
    names = [name for name, _ in model.named_children()]
    head = head_name(model).split(".")[0]
    if names.index(head) == 0:
        raise ValueError(f"nothing comes before the head {head!r} of {type(model).__name__}: give cut=")
    return names[names.index(head) - 1]


def fit_cached(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None = None, *,
               optimizer: torch.optim.Optimizer, num_epochs: int, cut: str | None = None,
               criterion: nn.Module | None = None, scheduler=None, device: torch.device | str | None = None,
               progress: bool = True, on_epoch=None, train_mode=None) -> History:
    """Like :func:`fit`, but the frozen part up to ``cut`` runs only once.

    Everything up to and including the child ``cut`` must be frozen. Its outputs are cached
    for the training and validation data, then only the rest (the head for
    ``cut="avgpool"``, ``layer4`` and the head for ``cut="layer3"``) trains on them. Same
    seed and same loaders give the same model as :func:`fit` (no augmentation can apply to
    cached features, so use it where the training data are not augmented).

    ``cut`` defaults to the child just before the head: ``"avgpool"`` in a ResNet (so only the
    head trains), ``"features"`` in a MobileNetV2. ``history.seconds`` includes the time spent caching.
    ``train_mode`` is passed to :func:`train_one_epoch` (it gets the part that trains).
    """
    device = pick_device(device)
    # the progress bar names a layer only where the student chose one (lesson 01 meets this before any layer name)
    desc = "epochs (head only, on cached features)" if cut in (None, default_cut(model)) else f"epochs (cached up to {cut})"
    cut = cut or default_cut(model)
    body, tail = split_model(model, cut)
    body_children = {name for name, child in model.named_children() if any(child is m for m in body)}
    trainable = [name for name, p in model.named_parameters()
                 if p.requires_grad and name.split(".")[0] in body_children]
    if trainable:
        raise ValueError(f"fit_cached(cut={cut!r}) caches the part up to {cut!r}, so it must be frozen, but "
                         f"{len(trainable)} of its parameters are trainable (e.g. {trainable[0]}); freeze them or "
                         "cut later")
    start = time.perf_counter()
    train_features = extract_features(body, _in_order(train_loader), device=device, progress=progress)
    val_features = None
    if val_loader is not None:
        val_features = _like(val_loader, extract_features(body, _in_order(val_loader), device=device,
                                                          progress=progress))
    caching = time.perf_counter() - start
    history = fit(tail, _like(train_loader, train_features), val_features, optimizer=optimizer,
                  num_epochs=num_epochs, criterion=criterion, scheduler=scheduler, device=device,
                  progress=progress, desc=desc, on_epoch=on_epoch, train_mode=train_mode)
    history.seconds = [s + caching for s in history.seconds]
    return history
