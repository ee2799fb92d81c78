"""Checks for the arguments operators pass to cloudassist functions and states.

Values reach here from the command line, SLS files and pillar, so types are not to be trusted.
"""

import _cloudassist_errors as errors

MAX_SECONDS = 3600
# What stop and restart may do with the processes a stopped client leaves behind.
LEFTOVER_MODES = ("end", "keep")
# What the states' ``updates`` argument may ask of the client's self-update.
UPDATE_MODES = ("frozen", "allowed")


def seconds(source, value, *, allow_zero=False):
    """``value`` if it is a number of seconds in range, else ``errors.BadArgument`` naming
    ``source``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (0 <= value if allow_zero else 0 < value) or value > MAX_SECONDS:
        raise errors.BadArgument(
            "{} must be a number of seconds {} 0 and at most {}, not {!r}".format(
                source, "from" if allow_zero else "greater than", MAX_SECONDS, value
            ),
            source=source,
            value=value,
        )
    return value


def flag(source, value):
    """``value`` if it is a boolean, else ``errors.BadArgument`` naming ``source``."""
    if not isinstance(value, bool):
        raise errors.BadArgument(
            f"{source} must be true or false, not {value!r}", source=source, value=value
        )
    return value


def choice(source, value, choices):
    """``value`` if it is one of ``choices``, else ``errors.BadArgument`` naming ``source``."""
    if not isinstance(value, str) or value not in choices:
        raise errors.BadArgument(
            "{} must be one of {}, not {!r}".format(source, ", ".join(choices), value),
            source=source,
            value=value,
        )
    return value
