"""Frozen pretrained networks (Inception-v3 for FID, VGG16 for perceptual losses) and the one
safe reader of their weight files (weights.py). Their parameters are passed to jit as arguments
and never checkpointed.
"""
