"""Lesson 02: freezing."""

from simulate import right, wrong

LESSON = "02_freezing"
VARIANTS = [
    wrong("freeze_all", "sets the flag the wrong way", "param.requires_grad = True"),
    wrong("freeze_all", "detaches a copy instead", "param = param.detach()"),
    wrong("freeze_all", "the Keras attribute", "param.trainable = False"),
    right("freeze_all", "the in-place method", "param.requires_grad_(False)"),

    wrong("freeze_all_but_head", "freezes the head too", "model.requires_grad_(False)"),
    wrong("freeze_all_but_head", "unfreezes the head, then freezes everything",
          "model.fc.requires_grad_(True)\nmodel.requires_grad_(False)"),
    wrong("freeze_all_but_head", "replaces the head instead of unfreezing it",
          "model.requires_grad_(False)\nmodel.fc = nn.Linear(model.fc.in_features, model.fc.out_features)"),
    right("freeze_all_but_head", "by name", "for name, param in model.named_parameters():\n"
          "    param.requires_grad = name.startswith('fc.')"),

    wrong("train_only_layer4", "any name with a 4 in it", 'param.requires_grad = "4" in name'),
    wrong("train_only_layer4", "unfreezes layer4 but freezes nothing", 'if "layer4" in name:\n    param.requires_grad = True'),
    wrong("train_only_layer4", "layer4 and the head", 'param.requires_grad = "layer4" in name or name.startswith("fc")'),
    right("train_only_layer4", "the if/else form", 'if "layer4" in name:\n    param.requires_grad = True\n'
          'else:\n    param.requires_grad = False'),

    wrong("count_trainable", "counts every tensor, trainable or not",
          "trainable_tensors = len(params)\ntrainable_params = sum(p.numel() for p in params if p.requires_grad)"),
    wrong("count_trainable", "counts every parameter, trainable or not",
          "trainable_tensors = sum(p.requires_grad for p in params)\ntrainable_params = sum(p.numel() for p in params)"),
    wrong("count_trainable", "the two counts swapped",
          "trainable_tensors = sum(p.numel() for p in params if p.requires_grad)\n"
          "trainable_params = sum(p.requires_grad for p in params)"),
    right("count_trainable", "a list and len; numel times the flag",
          "trainable_tensors = len([p for p in params if p.requires_grad])\n"
          "trainable_params = sum(p.numel() * p.requires_grad for p in params)"),

    wrong("frozen_batchnorm_eval", "every BatchNorm layer, frozen or not", "module.eval()\nswitched.append(name)"),
    wrong("frozen_batchnorm_eval", "freezes the parameters instead of switching the mode",
          "if not any(p.requires_grad for p in module.parameters()):\n    module.requires_grad_(False)\n"
          "    switched.append(name)"),
    wrong("frozen_batchnorm_eval", "switches the layers but does not say which",
          "if not any(p.requires_grad for p in module.parameters()):\n    module.eval()"),
    right("frozen_batchnorm_eval", "train(False) and all()",
          "if all(not p.requires_grad for p in module.parameters()):\n    module.train(False)\n    switched.append(name)"),
]
