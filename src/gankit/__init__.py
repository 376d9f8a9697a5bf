"""gankit: GANs that converge, with the stabilising techniques of the literature, and
metrics you can trust."""
__version__ = "0.1.0"
