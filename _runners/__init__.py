"""Runners of saltext.cloudassist (none yet); Salt's loader skips files starting with ``_``."""
