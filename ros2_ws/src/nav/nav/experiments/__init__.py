"""Experiments (``nav experiment ...``).

- :mod:`.adapt`: static model variants against the resource monitor, idle and under CPU contention.
- :mod:`.cpu_load`: the CPU burners that make the contention.
"""
