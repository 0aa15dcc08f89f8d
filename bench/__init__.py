"""Benchmarks: ``make bench`` (``python -m bench``). Not shipped in the wheel.

The sync benchmark of issue 13 (``suite``): the stand-in shop (``shop``), the physical floor (``floor``), the
naive sync (``naive``), the product's scenarios as real ``tradecredit run`` processes, a stage profiler
(``stages``) and a streaming prototype (``prototype``); ``report`` writes docs/benchmarks.md and its plot.

``python -m bench micro`` runs the older in-process micro benchmarks: every other module defining
``BENCHMARKS``, a list of callables taking ``scale`` (float, 1.0 = default size) and returning a
``harness.Result`` (a baseline and a candidate timed in the same run, so the ratio means something anywhere).
"""
