"""Fits the polynomial behind fuser's vectorized erfc (runtime/src/gelu.rs).

For z >= 0.5, with t = 1 / (1 + z/2):  erfc(z) = t * exp(-z*z + G(t)),
where G is smooth on t in [1/6.5, 0.8] (z in [0.5, 11]). This script fits G by least
squares at Chebyshev nodes (close to minimax), in the power basis the Rust code
evaluates with Horner's rule, and prints the coefficients and the largest error of
G (which is the relative error of erfc) on a fine grid, from Python's math.erfc.

    .venv/bin/python scripts/fit_erfc.py
"""

import math

import numpy as np

LOW, HIGH, DEGREE = 1 / 6.5, 0.8, 9


def g(t: float) -> float:
    z = 2 * (1 / t - 1)
    return math.log(math.erfc(z) / t) + z * z


def main() -> None:
    k = np.arange(2000)
    nodes = (LOW + HIGH) / 2 + (HIGH - LOW) / 2 * np.cos(np.pi * (k + 0.5) / len(k))
    fit = np.polynomial.chebyshev.Chebyshev.fit(nodes, [g(t) for t in nodes], DEGREE, domain=[LOW, HIGH])
    coefficients = fit.convert(kind=np.polynomial.Polynomial, domain=[-1, 1], window=[-1, 1]).coef
    grid = np.linspace(LOW, HIGH, 20001)
    value = np.zeros_like(grid)
    for c in coefficients[::-1]:
        value = value * grid + c
    error = np.max(np.abs(value - [g(t) for t in grid]))
    print("// G(t), lowest degree first:")
    print("const ERFC_G: [f64; %d] = [" % len(coefficients))
    for c in coefficients:
        print("    %r," % float(c))
    print("];")
    print("// largest |G - fit| (relative error of erfc) on z in [0.5, 11]: %.2e" % error)


if __name__ == "__main__":
    main()
