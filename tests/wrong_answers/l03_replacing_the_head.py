"""Lesson 03: replacing the head."""

from simulate import right, wrong

LESSON = "03_replacing_the_head"
VARIANTS = [
    wrong("replace_fc", "512 typed in", "model.fc = nn.Linear(512, num_classes)"),
    wrong("replace_fc", "the old head resized in place", "model.fc.out_features = num_classes"),
    wrong("replace_fc", "a fixed number of classes", "model.fc = nn.Linear(model.fc.in_features, 5)"),
    right("replace_fc", "the package's replace_head", "replace_head(model, num_classes)"),

    wrong("replace_classifier", "index 1, as for MobileNetV2 only",
          "model.classifier[1] = nn.Linear(model.classifier[1].in_features, num_classes)"),
    wrong("replace_classifier", "the whole classifier replaced",
          "model.classifier = nn.Linear(model.classifier[-1].in_features, num_classes)"),
    wrong("replace_classifier", "1280 typed in", "model.classifier[-1] = nn.Linear(1280, num_classes)"),
    right("replace_classifier", "the package's replace_head", "replace_head(model, num_classes)"),

    wrong("keras_head", "a softmax layer, as in Keras",
          "head = nn.Sequential(nn.Linear(in_features, num_classes), nn.Softmax(dim=1))\ncriterion = nn.CrossEntropyLoss()"),
    wrong("keras_head", "log-softmax and NLLLoss", "head = nn.Sequential(nn.Linear(in_features, num_classes), "
          "nn.LogSoftmax(dim=1))\ncriterion = nn.NLLLoss()"),
    wrong("keras_head", "the example's numbers typed in", "head = nn.Linear(1280, 5)\ncriterion = nn.CrossEntropyLoss()"),
    wrong("keras_head", "a Tanh after the Linear layer: scores squashed into (-1, 1) (found by mutation testing)",
          "head = nn.Sequential(nn.Linear(in_features, num_classes), nn.Tanh())\ncriterion = nn.CrossEntropyLoss()"),
    right("keras_head", "MobileNetV2's own Dropout + Linear",
          "head = nn.Sequential(nn.Dropout(0.2), nn.Linear(in_features, num_classes))\ncriterion = nn.CrossEntropyLoss()"),
]
