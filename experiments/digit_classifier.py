"""Trains the digit classifier behind the "FCN-score" analogue (classifier accuracy on generated
digits; jaxgan/evaluation/digit_classifier.py) on mnist_5k's train split and states its accuracy
on the held-out test split.

  python experiments/digit_classifier.py [--steps=1200] [--seed=0] [--out=experiments/results]

Writes OUT/digit_classifier.npz (the weights, which digit_classifier.load reads by default) and
OUT/digit_classifier.json (test accuracy, the protocol and the wall-clock training time).
About 2 minutes on 2 CPU cores.
"""
import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from jaxgan.data import sources as data  # pylint: disable=wrong-import-position
from jaxgan.evaluation import digit_classifier  # pylint: disable=wrong-import-position

BATCH_SIZE, LEARNING_RATE, MAX_SHIFT = 64, 1e-3, 2


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=1200)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', default=os.path.join(REPO, 'experiments', 'results'))
  args = parser.parse_args()
  train, test = data.load_mnist_5k('train'), data.load_mnist_5k('test')
  start = time.time()
  params = digit_classifier.train(train.images, train.labels, args.seed, args.steps,
                                  batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                                  max_shift=MAX_SHIFT)
  seconds = time.time() - start
  sha1 = digit_classifier.save(params, os.path.join(args.out, 'digit_classifier.npz'))
  result = {
      'test_accuracy': digit_classifier.accuracy(params, test.images, test.labels),
      'train_accuracy': digit_classifier.accuracy(params, train.images, train.labels),
      'protocol': {
          'data': 'mnist_5k', 'train_split': 'train', 'num_train': len(train),
          'test_split': 'test', 'num_test': len(test), 'steps': args.steps, 'seed': args.seed,
          'batch_size': BATCH_SIZE, 'optimizer': f'adam, lr {LEARNING_RATE} cosine-decayed to 0',
          'augmentation': f'random shifts of up to {MAX_SHIFT} px, zero filled',
          'network': 'conv32-pool-conv64-pool-dense128-dense10 on 28x28 (32x32 centre-cropped)',
      },
      'train_seconds': round(seconds, 1),
      'weights_sha1': sha1,
  }
  with open(os.path.join(args.out, 'digit_classifier.json'), 'w') as f:
    json.dump(result, f, indent=2)
  print(f'test accuracy {result["test_accuracy"]:.4f} ({len(test)} digits), train accuracy '
        f'{result["train_accuracy"]:.4f}, {seconds:.0f} s training')


if __name__ == '__main__':
  main()
