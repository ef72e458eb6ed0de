"""The clothing detector: torchvision Faster R-CNN, one class per clothing category."""
