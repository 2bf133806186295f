"""jaxgan: a JAX/Flax research codebase for image generation (GANs, VAEs, autoregressive models)."""


def load(workdir: str, step: int | None = None, **options):
  """A trained run as a jaxgan.inference.api.Model (imported on first use: `import jaxgan` stays
  light)."""
  from jaxgan.inference import api  # pylint: disable=g-import-not-at-top
  return api.load(workdir, step, **options)
