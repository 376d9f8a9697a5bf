"""Reproduce Huszár's (2016) figure: minibatch JS divergence between Bernoulli products.

p = 0.2, q from 0 to 1, minibatch sizes N = 1, 2, 3, 8; JS(P^N || Q^N) in bits, computed
exactly by enumerating the number of ones in float64 (gankit.theory), and JS / N.

    python benchmarks/minibatch_divergence.py --out benchmarks/out/minibatch_js.png
"""
from gankit.theory import main

if __name__ == "__main__":
    raise SystemExit(main())
