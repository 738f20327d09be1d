"""/search request bodies of the benches, with the embedding in each wire form the server takes."""

import base64
import json
from typing import Any

import numpy as np

WIRES = ("f32", "f16", "int8")


def wire_body(v: np.ndarray, key: str, wire: str, k: int = 10) -> str:
    """The /search body of unit vector `v` with the embedding as a JSON array (f32), float16 or int8."""
    if wire == "f32":
        emb: Any = [float(x) for x in v]
    elif wire == "f16":
        emb = {"dtype": "float16", "b64": base64.b64encode(v.astype("<f2").tobytes()).decode()}
    else:
        scale = float(np.abs(v).max()) / 127
        q = np.clip(np.round(v / scale), -127, 127).astype(np.int8)
        emb = {"dtype": "int8", "b64": base64.b64encode(q.tobytes()).decode(), "scale": scale, "zero_point": 0}
    return json.dumps({"embedding": emb, "k": k, "compat_key": key}, separators=(",", ":"))
