"""Imports fine but registers something that is not a Source."""

from tradecredit import hookimpl


@hookimpl
def register_sources(register):
    register("not_a_source", object)
