"""Motion held as a low-rank part plus a few dense terms, so that a sampler's steps cost
what the denoiser's hidden width costs, not 15,069 numbers per frame.

Why this is exact: the denoiser reads motion only through one linear layer
(``motion_in``) and writes it only through another (``motion_out``), and a deterministic
DDIM step, like the in-painting lerp, is a per-frame linear combination of x_t and the x0
estimate. Starting from the seed's noise z, every x_t of the chain is therefore

    low @ basis.T  +  sum_j coef_j * dense_j

where ``basis`` is ``motion_out``'s weight (V*3, hidden) and the dense terms are z,
``motion_out``'s bias and whatever a caller lerps in (key poses, the frames carried over
from the previous window). Reading such a sum through ``motion_in`` needs its weight times
the basis once, and each dense term projected once; the motion is made dense once, at the
end. On 30 s of speech, ``Generator.generate`` with its phones given took 1.9 s dense and
takes 0.8 s so on two cores (docs/benchmarks.md); the take differs by 1e-8 m at most.

The ancestral sampler adds fresh noise at every one of its steps, a new dense term each
time, so it gains nothing from this and stays dense.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _key(t: torch.Tensor) -> tuple:
    """The same tensor, or a view of the same memory in the same shape, is the same term."""
    return t.device, t.data_ptr(), tuple(t.shape), t.stride(), t.dtype


class Factored:
    """(B, T, D) motion as ``low @ basis.T + sum(coef * dense)``; built with ``of``."""

    def __init__(self, shape, low, basis, terms, cache: dict):
        self.shape = torch.Size(shape)
        self.low, self.basis = low, basis  # (B, T, r) and (D, r), or both None
        self.terms = terms  # [(coef broadcastable to (B, T, 1), dense broadcastable to shape)]
        self._cache = cache  # projections, shared by everything derived from one ``of``

    @classmethod
    def of(cls, dense: torch.Tensor) -> "Factored":
        return cls(dense.shape, None, None, [(1.0, dense)], {})

    def dim(self) -> int:
        return len(self.shape)

    def written(self, hidden: torch.Tensor, layer: nn.Linear) -> "Factored":
        """``layer(hidden)`` (a layer out to motion), kept factored, in this chain."""
        return Factored((*hidden.shape[:-1], layer.out_features), hidden, layer.weight,
                        [] if layer.bias is None else [(1.0, layer.bias)], self._cache)

    def read(self, layer: nn.Linear) -> torch.Tensor:
        """``layer(self.dense())`` (a layer in from motion), without making the motion dense."""
        out = 0.0 if layer.bias is None else layer.bias
        if self.low is not None:
            out = out + self.low @ self._projected(self.basis.T, layer)  # low @ (W_in @ basis).T
        for coef, dense in self.terms:
            out = out + coef * self._projected(dense, layer)
        return out

    def _projected(self, dense: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        key = (_key(dense), _key(layer.weight))
        if key not in self._cache:  # the cache holds both tensors, so their memory is not reused
            self._cache[key] = (dense, layer.weight, dense @ layer.weight.T)
        return self._cache[key][2]

    def dense(self) -> torch.Tensor:
        like = self.low if self.low is not None else self.terms[0][1]
        out = torch.zeros(self.shape, dtype=like.dtype, device=like.device)
        if self.low is not None:
            out = out + self.low @ self.basis.T
        for coef, dense in self.terms:
            out = out + coef * dense
        return out

    def lerp(self, end: torch.Tensor, weight: torch.Tensor) -> "Factored":
        """``torch.lerp``; ``end`` stays one term (weighted), not a new product at every step."""
        return self * (1 - weight) + Factored(self.shape, None, None, [(weight, end)], self._cache)

    def __mul__(self, scale) -> "Factored":
        if isinstance(scale, torch.Tensor) and scale.dim() and scale.shape[-1] != 1:
            raise ValueError("a factored motion scales by frame, not by channel")
        return Factored(self.shape, None if self.low is None else self.low * scale, self.basis,
                        [(coef * scale, dense) for coef, dense in self.terms], self._cache)

    __rmul__ = __mul__

    def __truediv__(self, scale) -> "Factored":
        return self * (1 / scale)

    def __neg__(self) -> "Factored":
        return self * -1.0

    def __add__(self, other) -> "Factored":
        if isinstance(other, torch.Tensor):
            other = Factored(other.shape, None, None, [(1.0, other)], self._cache)
        if not isinstance(other, Factored):
            return NotImplemented
        if self.low is not None and other.low is not None and other.basis is not self.basis:
            raise ValueError("factored motions written by different layers cannot be added")
        low = other.low if self.low is None else self.low if other.low is None else self.low + other.low
        terms = {}
        for coef, dense in self.terms + other.terms:
            key = _key(dense)
            terms[key] = (terms[key][0] + coef, dense) if key in terms else (coef, dense)
        # numpy's, not torch's: torch.broadcast_shapes first imports its symbolic-shape machinery (0.4 s)
        return Factored(torch.Size(np.broadcast_shapes(self.shape, other.shape)), low,
                        self.basis if self.low is not None else other.basis, list(terms.values()), self._cache)

    __radd__ = __add__

    def __sub__(self, other) -> "Factored":
        return self + (-1.0) * other

    def __rsub__(self, other) -> "Factored":
        return (-1.0) * self + other
