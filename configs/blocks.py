"""Config blocks every model family shares: the dataset, an optimizer, the training loop, the mesh.

Each config file builds its own model and family blocks and takes these from here, so a
field added to one of them (and to the code that reads it) reaches every config at once. Import
as `blocks = config_lib.sibling_module(__file__, 'blocks')`, which works from any directory.
"""
import ml_collections


def data(name: str, image_size: int, channels: int, resize: bool = False
         ) -> ml_collections.ConfigDict:
  """The `data` block (jaxgan/data/sources.py): a dataset by name, at image_size x image_size."""
  block = ml_collections.ConfigDict()
  block.name = name
  block.data_dir = ml_collections.config_dict.placeholder(str)  # tfds data_dir; None: default
  block.train_split = 'train'
  block.test_split = 'test'
  block.image_size = image_size
  block.channels = channels
  # Center-crop to a square and resize to image_size (PIL bicubic) when the dataset's images
  # have another size, e.g. CelebA's 218x178 faces at 64x64.
  block.resize = resize
  block.pad = False  # zero-pad (centred) smaller images to image_size, e.g. MNIST's 28 to 32
  # image_size crops of larger images (random in the train split, a grid of tiles in the others)
  # instead of whole images; a bundled collection is always cropped.
  block.crop = False
  block.crops_per_image = 100  # random crops per image and epoch (crop and collections)
  block.image_feature = 'image'  # the tfds feature that holds the image
  # How batches are composed: '' labelled images; 'degradation' pairs made on the fly by
  # block.degradation; 'aligned' inputs from block.other; 'unpaired' block and block.other as
  # two independent domains. A paired config adds the `degradation` or `other` block it names.
  block.pairing = ''
  block.paired_test = False  # 'unpaired': the held-out splits correspond example by example
  block.prefetch = 2  # batches prepared ahead on a host thread and put on devices
  return block


# (training split, validation split) of the bundled datasets the image-to-image configs train
# on: images held back from training to choose the best checkpoint on, so that the test split
# stays for reporting only. tensorflow-datasets' split slicing (jaxgan/data/sources.py: split_slice).
VALIDATION_SPLITS = {
    'photos': ('train', 'validation'),  # rocket and china (image_sets.PHOTOS_VALIDATION)
    'mnist_5k': ('train[:4250]', 'train[4250:]'),  # the last 250 of the 4,500 training digits
    # slices z 145..149; z 140..144 are used by neither (neighbouring slices are near copies)
    'mni152_t1': ('train[:-10]', 'train[-5:]'),
    'mni152_tissue': ('train[:-10]', 'train[-5:]'),
}


def hold_out_validation(block: ml_collections.ConfigDict) -> str:
  """Sets the data `block`'s train_split to its dataset's training images without the
  validation images (VALIDATION_SPLITS) and returns the validation split ('' if none)."""
  block.train_split, validation = VALIDATION_SPLITS.get(block.name, (block.train_split, ''))
  return validation


def adam(learning_rate: float, b1: float, b2: float, eps: float) -> ml_collections.ConfigDict:
  """One network's optimizer block (jaxgan/training/optim.py), with a constant learning rate."""
  block = ml_collections.ConfigDict()
  block.name = 'adam'
  block.learning_rate = learning_rate
  block.b1 = b1
  block.b2 = b2
  block.eps = eps
  # or 'cosine', 'linear_decay', 'constant_then_linear_decay' over train.num_steps
  block.schedule = 'constant'
  block.decay_start = 0.5  # constant_then_linear_decay: the fraction held at the peak
  block.warmup_steps = 0  # linear warm-up from 0 before the schedule
  return block


def train(num_steps: int, batch_size: int, log_every: int, checkpoint_every: int,
          keep_checkpoints: int, sample_every: int, num_sample_images: int,
          ema_decay: float = 0.999) -> ml_collections.ConfigDict:
  """The `train` block (jaxgan/training/trainer.py); intervals are in steps."""
  block = ml_collections.ConfigDict()
  block.num_steps = num_steps
  block.batch_size = batch_size  # global, split over all devices of all processes
  block.log_every = log_every
  block.checkpoint_every = checkpoint_every
  block.keep_checkpoints = keep_checkpoints
  block.sample_every = sample_every
  block.num_sample_images = num_sample_images  # fixed latent/sample batch for the grids
  block.ema_decay = ema_decay
  # Gradient accumulation: each batch in k sequential micro-batches, one optimizer update
  # (jaxgan/training/gradients.py); batch norm normalizes by each micro-batch's statistics.
  block.microbatches = 1
  return block


def mesh() -> ml_collections.ConfigDict:
  """The `mesh` block (jaxgan/training/mesh.py): device mesh axis sizes, -1 = the devices left.
  `data` splits batches; `fsdp` splits batches and every large state leaf's largest divisible
  dimension; `model` splits kernels' output channels. Their product is the device count."""
  block = ml_collections.ConfigDict()
  block.data = -1
  block.fsdp = 1
  block.model = 1
  block.min_sharded_bytes = 2**20  # smaller state leaves stay replicated
  return block


def heldout_eval(every_steps: int, best_metric: str, best_mode: str, batch_size: int,
                 split: str = 'test', validation_split: str = '') -> ml_collections.ConfigDict:
  """The `eval` block of a family with per-example metrics (jaxgan/evaluation/): the held-out
  pass over the whole `split` every `every_steps` steps (and by `python -m jaxgan.eval`), the
  checkpoint with the best `best_metric` ('min' or 'max') kept in workdir/checkpoints_best.
  With a `validation_split` (images held back from training), a second pass over it reports
  'validation_<metric>', and the best checkpoint is chosen on it, not on `split`, which is
  then only reported."""
  block = ml_collections.ConfigDict()
  block.every_steps = every_steps
  block.best_metric = f'validation_{best_metric}' if validation_split else best_metric
  block.best_mode = best_mode
  block.heldout = heldout(split, batch_size)
  if validation_split:
    block.validation = heldout(validation_split, batch_size, prefix='validation_')
  return block


def heldout(split: str, batch_size: int, prefix: str = '') -> ml_collections.ConfigDict:
  """An evaluator block of type 'heldout' (jaxgan/evaluation/heldout.py): the family's
  per-example metrics averaged over `split`, reported as `prefix` + their names."""
  block = ml_collections.ConfigDict()
  block.type = 'heldout'
  block.split = split
  block.batch_size = batch_size  # global, split over all devices
  block.prefix = prefix
  return block


def likelihood_eval(every_steps: int, batch_size: int = 100) -> ml_collections.ConfigDict:
  """The `eval` block of a likelihood model: the lowest bits/dim on the test split is best."""
  return heldout_eval(every_steps, 'bits_per_dim', 'min', batch_size)


def sample_quality_eval(every_steps: int, num_samples: int,
                        metrics: tuple = ('fid', 'kid', 'precision_recall')
                        ) -> ml_collections.ConfigDict:
  """The `eval` block of a family that samples (jaxgan/evaluation/sample_quality.py): `metrics`
  of `num_samples` EMA-generator samples against the training split, every `every_steps` steps
  (0 = off: on a CPU, 5,000 Inception-v3 passes at 299x299 take minutes) and by
  `python -m jaxgan.eval`; workdir/checkpoints_best keeps the checkpoint of the lowest FID."""
  block = ml_collections.ConfigDict()
  block.every_steps = every_steps
  block.best_metric = 'fid'
  block.best_mode = 'min'
  quality = block.sample_quality = ml_collections.ConfigDict()
  quality.type = 'inception'
  quality.metrics = metrics  # also: 'inception_score'
  quality.num_samples = num_samples
  quality.batch_size = 64  # global, split over all devices
  quality.seed = 0  # the same generated samples (latents) at every evaluation
  quality.resizer = 'clean'  # clean-fid PIL bicubic, or 'legacy_tf' bilinear
  quality.reference_split = 'train'
  quality.reference_count = 0  # its first N images; 0 = all (mnist_5k: 4,500)
  quality.kid_subsets = 100
  quality.kid_subset_size = 1000
  quality.precision_recall_k = 3
  quality.inception_score_splits = 10
  # pytorch-fid's pt_inception-2015-12-05-6726825d.pth (1008-way logits) for 'inception_score'.
  quality.inception_logits_weights = ''
  return block


def critic(loss: str = 'non_saturating') -> ml_collections.ConfigDict:
  """The `gan` block of an image-to-image family's critic (jaxgan/adversarial/updates.py): a loss of
  jaxgan/adversarial/losses.py and no penalty or weight clipping."""
  block = ml_collections.ConfigDict()
  block.loss = loss
  block.penalty = 'none'
  block.penalty_weight = 0.0
  block.clip_value = 0.0
  return block
