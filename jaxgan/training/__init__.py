"""The one trainer (trainer.py: train_and_evaluate) and what a run keeps: the train state
(state.py), orbax checkpoints (checkpoints.py), the step/phase/data-position schedule
(phases.py), the mesh and shardings (mesh.py), TensorBoard writers (writers.py) and the
optimizer registry (optim.py)."""
