"""Helpers shared by the cloudassist modules; Salt's loader skips files starting with ``_``."""
