"""finetune-course: the helper package of a course on fine-tuning pretrained ResNets, offline.

One module per concern, each short enough to read in one sitting:

- ``shapes``, ``data``: the course's image tasks, your own folders, torchvision datasets
- ``weights``: the course checkpoint and ImageNet weights, with their transforms
- ``models``: load a model; freeze and unfreeze; get and replace the head; parameter groups
- ``train``: ``train_one_epoch``, ``evaluate``, ``fit``; head-only training on cached features
- ``metrics``, ``plots``: confusion matrix, precision/recall/F1; learning curves and friends
- ``pretrain``, ``demo``, ``bench``, ``cli``: the ``finetune-course`` commands

Importing the package does nothing else: no downloads, no device probing, no seeding.
"""

__version__ = "0.1.0"
