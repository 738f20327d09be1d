"""How far an exported student's asymmetric mAP may move from the PyTorch student's, per quantisation.

The one table both verdicts use: the export's fidelity check (`export.fidelity`, benchmark mAP against
the teacher cache) and `distill device-eval` (`device_eval.parity`, mAP through the hosted index). No
imports, so any layer above `export` can read it cheaply.
"""

MAP_DELTA_POINTS: dict[str, float] = {"fp32": 0.5, "fp16": 0.5, "int8": 1.0}
"""|Δ mAP| allowed on every protocol (Easy/Medium/Hard), in percentage points, per quantisation.

An fp32 artefact agrees with PyTorch to ~1e-7 and shows Δ = 0.00; the slack is for ranks of near-tied
database items flipping on small query sets (with 40 queries, one query's AP moving by 0.2 is 0.5 pt),
not for numerical error, which the median-cosine targets in `export.fidelity` catch."""
