"""Benchmarks (``nav bench ...``).

- :mod:`.simulator`: env steps/s against the bare PyBullet floor (``nav bench sim``).
- :mod:`.encoder`: parameters and per-step latency of each model variant (``nav bench encoder``).
- :mod:`.loop`: sensor in -> Twist out through the agent node over DDS (``nav bench loop``).
"""
