"""Seeds of a run's random streams, all derived from the one run seed.

Every random draw of a run comes from a stream of its own (the data order, the noise z
of the training steps, the samples of an evaluation...), so that adding draws to one
stream never shifts another, and a seed fixes the whole run. Stream ``s`` of run seed
``seed`` is seeded with ``(seed * 1,000,003 + s * 7,919) mod 2^63`` (two primes).
"""
from __future__ import annotations

_RUN_PRIME = 1_000_003
_STREAM_PRIME = 7_919
_MOD = 2**63

DATA = 1  #: the data set's minibatch order
Z = 2  #: the noise z of the training steps
SAMPLES = 3  #: the samples of each evaluation
GRID = 4  #: the fixed z of the image grids
TORCH = 10  #: torch's global generator (noise layers...); rank r uses stream TORCH + r
#: instance noise: the stream whose offset s * 7,919 is 104,729 mod 2^63, i.e. seed
#: (seed * 1,000,003 + 104,729) mod 2^63, the value it has always had (runs reproduce)
INSTANCE_NOISE = 104_729 * pow(_STREAM_PRIME, -1, _MOD) % _MOD


def derived_seed(seed: int, stream: int) -> int:
    """The seed of stream number ``stream`` of the run seeded with ``seed``."""
    return (seed * _RUN_PRIME + stream * _STREAM_PRIME) % _MOD
