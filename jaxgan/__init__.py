"""jaxgan: a JAX/Flax research codebase for image generation (GANs, VAEs, autoregressive models)."""
