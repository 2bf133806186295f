"""Each GAN loss against its formula on hand-made logits."""
import numpy as np
import pytest

from jaxgan.adversarial import losses

REAL = np.array([2.0, -1.0, 0.5, 0.0], np.float32)
FAKE = np.array([-3.0, 1.5, 0.25, -0.5], np.float32)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


# (discriminator loss, generator loss) written directly from the papers' formulas.
EXPECTED = {
    'minimax': (-np.mean(np.log(_sigmoid(REAL))) - np.mean(np.log(1 - _sigmoid(FAKE))),
                np.mean(np.log(1 - _sigmoid(FAKE)))),
    'non_saturating': (-np.mean(np.log(_sigmoid(REAL))) - np.mean(np.log(1 - _sigmoid(FAKE))),
                       -np.mean(np.log(_sigmoid(FAKE)))),
    'wasserstein': (np.mean(FAKE) - np.mean(REAL), -np.mean(FAKE)),
    'least_squares': (0.5 * np.mean((REAL - 1) ** 2) + 0.5 * np.mean(FAKE ** 2),
                      0.5 * np.mean((FAKE - 1) ** 2)),
    'hinge': (np.mean(np.maximum(0, 1 - REAL)) + np.mean(np.maximum(0, 1 + FAKE)),
              -np.mean(FAKE)),
    # ESRGAN's eq. 1-2 with D_Ra(a, b) = sigmoid(C(a) - mean C(b)), each side's two terms halved.
    'relativistic_average': (
        -0.5 * np.mean(np.log(_sigmoid(REAL - FAKE.mean())))
        - 0.5 * np.mean(np.log(1 - _sigmoid(FAKE - REAL.mean()))),
        -0.5 * np.mean(np.log(1 - _sigmoid(REAL - FAKE.mean())))
        - 0.5 * np.mean(np.log(_sigmoid(FAKE - REAL.mean())))),
}


def test_every_registered_loss_has_a_reference():
  assert set(EXPECTED) == set(losses.LOSSES)


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_loss_matches_formula(name):
  loss = losses.get(name)
  expected_d, expected_g = EXPECTED[name]
  np.testing.assert_allclose(loss.discriminator(REAL, FAKE), expected_d, rtol=1e-5)
  generator = loss.generator(FAKE, REAL) if loss.generator_uses_real else loss.generator(FAKE)
  np.testing.assert_allclose(generator, expected_g, rtol=1e-5)


def test_non_saturating_is_stable_for_extreme_logits():
  loss = losses.get('non_saturating')
  extreme = np.array([200.0, -200.0], np.float32)
  assert np.isfinite(loss.discriminator(extreme, extreme))
  assert np.isfinite(loss.generator(extreme))


def test_unknown_loss_names_the_valid_ones():
  with pytest.raises(ValueError, match='hinge'):
    losses.get('nonsense')
