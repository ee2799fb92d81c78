"""Execution modules of saltext.cloudassist; Salt's loader skips files starting with ``_``."""
