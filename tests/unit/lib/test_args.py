"""``_modules/_cloudassist_args.py``: the range checks on what operators pass (seconds, flags),
and the ``BadArgument`` they raise, which names its source and value."""

import pytest

import _cloudassist_args as args
import _cloudassist_errors as errors


@pytest.mark.parametrize("value", [1, 0.5, 30, args.MAX_SECONDS, float(args.MAX_SECONDS)])
def test_seconds_in_range_are_returned_as_given(value):
    assert args.seconds("timeout", value) is value


@pytest.mark.parametrize(
    "value",
    [0, 0.0, -1, args.MAX_SECONDS + 1, args.MAX_SECONDS + 0.001, True, False, "10", None, [5]],
)
def test_seconds_out_of_range_or_not_a_number_are_refused(value):
    with pytest.raises(errors.BadArgument) as raised:
        args.seconds("cloudassist:timeout", value)
    assert (raised.value.source, raised.value.value) == ("cloudassist:timeout", value)
    assert str(raised.value) == (
        f"cloudassist:timeout must be a number of seconds greater than 0 and at most "
        f"{args.MAX_SECONDS}, not {value!r}"
    )


def test_zero_seconds_only_where_allowed():
    assert args.seconds("settle", 0, allow_zero=True) == 0
    assert args.seconds("settle", args.MAX_SECONDS, allow_zero=True) == args.MAX_SECONDS
    for value in (-0.1, args.MAX_SECONDS + 1, True):
        with pytest.raises(errors.BadArgument, match="from 0 and at most") as raised:
            args.seconds("settle", value, allow_zero=True)
        assert raised.value.value is value


def test_a_bad_argument_is_a_failure_of_cloudassist():
    with pytest.raises(errors.Failure):
        args.seconds("timeout", 0)


@pytest.mark.parametrize("value", [True, False])
def test_flags_are_booleans(value):
    assert args.flag("enable", value) is value


@pytest.mark.parametrize("value", [1, 0, "yes", "False", None, 1.0])
def test_anything_but_a_boolean_is_not_a_flag(value):
    with pytest.raises(errors.BadArgument) as raised:
        args.flag("stop_watchdog", value)
    assert str(raised.value) == f"stop_watchdog must be true or false, not {value!r}"
    assert (raised.value.source, raised.value.value) == ("stop_watchdog", value)
