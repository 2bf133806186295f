"""Adversarial objectives: the D update and G's adversarial loss (updates.py) and the registries
they pick from by name: losses.py, penalties.py, augment.py (DiffAugment); image_pool.py the
history of generated images a D trains on."""
