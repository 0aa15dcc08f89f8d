"""Benchmarks: ``make bench`` (``python -m bench``). Not shipped in the wheel.

Each ``bench/*.py`` module defines ``BENCHMARKS``: a list of callables taking ``scale`` (float, 1.0 =
default size) and returning a ``Result``: a baseline and a candidate timed in the same run, so the printed
ratio is meaningful on any machine.
"""
