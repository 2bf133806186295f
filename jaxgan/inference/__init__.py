"""A trained run in use: reading a training directory (runs.py), the run as a Python object
behind `jaxgan.load` (api.py), tiled application to large images (tiling.py), a TensorFlow
SavedModel (saved_model.py) and the HTTP app (service.py)."""
