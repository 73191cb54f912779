"""results: what a run leaves behind, and what it is compared with.

Owns the record (one JSON object per measurement and attempt, validated against
``record.schema.json``), run.json, the baselines and their per-metric verdicts, and the labs'
summary tables.  It imports ``harness.core`` and ``harness.traffic`` (tool versions) only;
reading records never re-runs anything.
"""
