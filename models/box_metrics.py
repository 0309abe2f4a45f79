"""Box overlap and quantiles as `anpr-edge eval` computes them (src/geometry.rs, src/eval/score.rs),
shared by the Python tools so that their figures compare with the Rust ones."""
import numpy as np


def iou(a, b):
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 for disjoint or empty boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def quantile(values, q):
    """The q-quantile by nearest rank."""
    s = sorted(values)
    rank = min(max(int(np.ceil(q * len(s))), 1), len(s))
    return s[rank - 1]
