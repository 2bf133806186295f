"""Layers shared by the generators and discriminators.

`ConvTranspose` is the transposed convolution every generator uses (drop-in for
flax.linen.ConvTranspose with padding='SAME': same parameter names and shapes).
"""
import flax.linen as nn

ConvTranspose = nn.ConvTranspose
