"""Behavioural fingerprints: a hash of what a candidate returned on a problem's probe input.

A problem's ``evaluate.py`` may define ``fingerprint(candidate, context)``: call the
candidate on a small, fixed probe (one small workload, a few steps) and return what it
returned. The engine hashes that with ``fingerprint_of`` before the full evaluation; a
candidate whose fingerprint equals an evaluated program's behaves exactly like it on the
probe, so (for a deterministic candidate) it would score exactly the same, and it is
recorded as a behavioural duplicate instead of being evaluated again. The probe should be
cheap next to the evaluation and should exercise what the score depends on.

``fingerprint_of`` is exact: floats by their repr, arrays by dtype, shape and bytes, so
any difference in behaviour (down to the last bit) gives another fingerprint.
"""

from __future__ import annotations

import hashlib
import math
import sys
from typing import Any


def fingerprint_of(value: Any) -> str:
    """A 128-bit hex digest of ``value``'s structure and contents (data only, as the wire carries)."""
    digest = hashlib.sha256()
    _feed(digest, value, 0)
    return digest.hexdigest()[:32]


def _feed(digest: Any, value: Any, depth: int) -> None:
    if depth > 100:
        raise ValueError("fingerprint: value nested deeper than 100 levels")
    if value is None or isinstance(value, (bool, int, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, float):
        digest.update(b"float:" + (repr(value) if not math.isnan(value) else "nan").encode() + b";")
    elif isinstance(value, (list, tuple)):
        digest.update(f"list{len(value)}[".encode())
        for item in value:
            _feed(digest, item, depth + 1)
        digest.update(b"]")
    elif isinstance(value, dict):
        digest.update(f"dict{len(value)}{{".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key, depth + 1)
            _feed(digest, value[key], depth + 1)
        digest.update(b"}")
    else:
        _feed_array(digest, value)


def _feed_array(digest: Any, value: Any) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        digest.update(f"tensor:{value.dtype}:{tuple(value.shape)}:".encode())
        digest.update(value.contiguous().view(torch.uint8).numpy().tobytes() if value.numel() else b"")
        return
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        array = numpy.ascontiguousarray(value)
        digest.update(f"ndarray:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
        return
    raise TypeError(f"fingerprint: cannot hash a {type(value).__name__}; return data (numbers, lists, dicts, arrays)")
