"""Lesson 08: the capstone, torch and torchvision alone."""

from simulate import right, wrong

LESSON = "08_capstone"
_STEP = ("optimizer.zero_grad()\nloss = criterion(model(inputs), labels)\nloss.backward()\noptimizer.step()")
_KEEP = "if val_acc > best_acc:\n    best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())"
VARIANTS = [
    wrong("make_datasets", "both sets augmented",
          'augment = v2.Compose([v2.RandomHorizontalFlip(), preprocess])\n'
          'train_set = datasets.ImageFolder(Path(data_dir) / "train", transform=augment)\n'
          'val_set = datasets.ImageFolder(Path(data_dir) / "val", transform=augment)'),
    wrong("make_datasets", "no augmentation at all",
          'train_set = datasets.ImageFolder(Path(data_dir) / "train", transform=preprocess)\n'
          'val_set = datasets.ImageFolder(Path(data_dir) / "val", transform=preprocess)'),
    wrong("make_datasets", "augmentation after normalising, on this lesson's folder",
          'train_set = datasets.ImageFolder(Path(DATA_DIR) / "train", transform=v2.Compose([preprocess, v2.RandomHorizontalFlip()]))\n'
          'val_set = datasets.ImageFolder(Path(DATA_DIR) / "val", transform=preprocess)'),
    right("make_datasets", "os.path.join and a separate augment",
          'import os\naugment = v2.Compose([v2.RandomHorizontalFlip(p=0.5), preprocess])\n'
          'train_set = datasets.ImageFolder(os.path.join(data_dir, "train"), augment)\n'
          'val_set = datasets.ImageFolder(os.path.join(data_dir, "val"), preprocess)'),

    wrong("train_and_keep_best", "the scheduler stepped every batch", _STEP + "\nscheduler.step()", "pass", _KEEP),
    wrong("train_and_keep_best", "the live state_dict kept, not a copy", _STEP, "scheduler.step()",
          "if val_acc > best_acc:\n    best_acc, best_state = val_acc, model.state_dict()"),
    wrong("train_and_keep_best", "no zero_grad", "loss = criterion(model(inputs), labels)\nloss.backward()\noptimizer.step()",
          "scheduler.step()", _KEEP),
    right("train_and_keep_best", "load_state_dict of a clone, >= for ties",
          "optimizer.zero_grad(set_to_none=True)\noutputs = model(inputs)\ncriterion(outputs, labels).backward()\noptimizer.step()",
          "scheduler.step()",
          "if val_acc >= best_acc:\n    best_acc = val_acc\n    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}"),

    wrong("save_model", "the weights alone", 'torch.save(model.state_dict(), path)'),
    wrong("save_model", "this lesson's classes and sizes, whatever is passed in",
          'torch.save({"state_dict": model.state_dict(), "classes": train_set.classes, "resize": 64, "size": 64,\n'
          '            "mean": list(mean), "std": list(std)}, path)'),
    wrong("save_model", "the whole model object pickled", 'torch.save({"state_dict": model, "classes": list(classes), "resize": resize,\n'
          '            "size": size, "mean": list(mean), "std": list(std)}, path)'),
    right("save_model", "dict() with keyword arguments",
          "torch.save(dict(state_dict=model.state_dict(), classes=list(classes), resize=resize, size=size,\n"
          "                mean=[float(m) for m in mean], std=[float(s) for s in std]), path)"),

    wrong("load_for_inference", "only eval(): the trained model in memory comes back, not a fresh one", "model.eval()"),
    wrong("load_for_inference", "eval mode forgotten",
          'model = models.resnet18(num_classes=len(saved["classes"]))\nmodel.load_state_dict(saved["state_dict"])'),
    wrong("load_for_inference", "this lesson's 5 classes",
          'model = models.resnet18(num_classes=5)\nmodel.load_state_dict(saved["state_dict"])\nmodel.eval()'),
    right("load_for_inference", "eval() chained, replaced head loaded",
          'model = models.resnet18()\nmodel.fc = nn.Linear(model.fc.in_features, len(saved["classes"]))\n'
          'model.load_state_dict(saved["state_dict"])\nmodel = model.eval()'),

    wrong("predict_file", "the class index instead of its name",
          'picture = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)\n'
          'probabilities = model(picture).softmax(dim=1)[0]\n'
          'return int(probabilities.argmax()), float(probabilities.max())'),
    wrong("predict_file", "no batch dimension",
          'picture = preprocess(Image.open(path).convert("RGB"))\nwith torch.no_grad():\n'
          '    probabilities = model(picture).softmax(dim=-1).flatten()\n'
          'return classes[int(probabilities.argmax())], float(probabilities.max())'),
    wrong("predict_file", "the largest logit as the probability",
          'picture = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)\nwith torch.no_grad():\n'
          '    outputs = model(picture)[0]\nreturn classes[int(outputs.argmax())], float(outputs.max())'),
    wrong("predict_file", "the file read in its own mode (a PNG with transparency gives four channels)",
          'picture = preprocess(Image.open(path)).unsqueeze(0)\nwith torch.no_grad():\n'
          '    probabilities = model(picture).softmax(dim=1)[0]\n'
          'return classes[int(probabilities.argmax())], float(probabilities.max())'),
    wrong("predict_file", "gradients tracked for a prediction",
          'picture = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)\n'
          'probabilities = model(picture).softmax(dim=1)[0].detach()\n'
          'return classes[int(probabilities.argmax())], float(probabilities.max())'),
    right("predict_file", "inference_mode, torch.max",
          'with torch.inference_mode():\n    outputs = model(preprocess(Image.open(path).convert("RGB"))[None])\n'
          'probability, index = torch.max(outputs.softmax(dim=1), dim=1)\nreturn classes[index.item()], probability.item()'),
]
