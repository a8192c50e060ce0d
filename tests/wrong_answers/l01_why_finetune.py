"""Lesson 01: loading pretrained weights."""

from simulate import right, wrong

LESSON = "01_why_finetune"
VARIANTS = [
    wrong("load_models", "random weights for the pretrained model",
          'pretrained_model = load_model(weights=None)'),
    wrong("load_models", "the scratch model starts from the checkpoint",
          None, 'scratch_model = load_model(weights="course", num_classes=num_classes)'),
    wrong("load_models", "a deeper network as the scratch twin",
          None, 'from torchvision.models import resnet34\nscratch_model = resnet34(weights=None, num_classes=num_classes)'),
    wrong("load_models", "a 'from scratch' twin that keeps every pretrained weight but conv1's",
          None, 'scratch_model = load_model(weights="course", num_classes=num_classes)\n'
          'scratch_model.conv1.reset_parameters()'),
    right("load_models", "torchvision's constructor for the twin, the default weights for the checkpoint",
          'pretrained_model = load_model()',
          'from torchvision.models import resnet18\nscratch_model = resnet18(weights=None, num_classes=num_classes)'),

    wrong("imagenet_weights", "DEFAULT, the alias the lesson warns about",
          'imagenet_weights = ResNet18_Weights.DEFAULT'),
    wrong("imagenet_weights", "the name as a string", 'imagenet_weights = "IMAGENET1K_V1"'),
    right("imagenet_weights", "looked up by name", 'imagenet_weights = ResNet18_Weights["IMAGENET1K_V1"]'),
    right("imagenet_weights", "torchvision's get_weight",
          'from torchvision.models import get_weight\nimagenet_weights = get_weight("ResNet18_Weights.IMAGENET1K_V1")'),
]
