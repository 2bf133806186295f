"""Style transfer: the objective (objective.py: content, Gram style and total variation on VGG16
features, colour preservation) and Gatys et al.'s per-image optimization (optimization.py)."""
