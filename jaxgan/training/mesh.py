"""The device mesh and the two shardings every jitted function here uses.

One 1-D mesh with a `data` axis over all devices (of all processes): batches are split along
their leading axis, everything else (train state, keys, metric sums) is replicated.
"""
import jax
import numpy as np


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh with a `data` axis over all (or the given) devices."""
  devices = jax.devices() if devices is None else devices
  return jax.sharding.Mesh(np.asarray(devices), ('data',))


def replicated_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def data_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  """Leading (batch) axis split over the mesh's `data` axis."""
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))


def replicate(tree, mesh: jax.sharding.Mesh):
  """Host values -> arrays replicated over the mesh (also across processes, unlike device_put)."""
  return jax.jit(lambda x: x, out_shardings=replicated_sharding(mesh))(tree)


def global_batch(tree, mesh: jax.sharding.Mesh):
  """A global batch sharded on `data` from the rows this process holds (a pytree of arrays)."""
  sharding = data_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), tree)
