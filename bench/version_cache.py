"""What the version cache saves one call, in-process on this host (issue 18).

A benchmark script, not a test: no container, no Salt loader.  The library's real
``LinuxHost.version()`` and ``status()`` against the tests' stand-in client, laid out as the
vendor's package lays it out in a temporary root (``/usr/sbin/aliyun-service`` a link into a
version folder), settled past ``SETTLED_NS``: each case is timed ``--calls`` times, one call at
a time, and the median printed in ms.  ``off`` is ``cloudassist:version_cache: false`` (every
call runs ``-v``, as before the cache); ``hit`` reads the kept version; the cases take turns,
one call each, so the machine's other load weighs on all alike.  ``miss`` (last) finds the
binary changed (a touch before each call, not timed), reads ``-v`` and keeps nothing (the
binary is too young): the worst case.

    .venv/bin/python bench/version_cache.py --calls 300
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "_modules"), str(ROOT / "tests" / "support")]

import _cloudassist_host as hosts  # noqa: E402
import _cloudassist_version_cache as version_cache  # noqa: E402
import standin  # noqa: E402


def interleaved(cases, calls):
    """``{name: median ms}``: one call of each case in turn, ``calls`` rounds, so that what
    else the machine does weighs on every case alike.  A case is ``(call, before)``; ``before``
    (not timed) runs ahead of each call."""
    times = {name: [] for name in cases}
    for _ in range(calls):
        for name, (call, before) in cases.items():
            if before:
                before()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    calls = parser.parse_args().calls
    with tempfile.TemporaryDirectory() as tmp:
        install = standin.install_versioned_client(pathlib.Path(tmp, "root"), relative_link=True)
        time.sleep(version_cache.SETTLED_NS / 1e9 + 0.2)

        def host(**config):
            config = dict(binary=str(install.link), init_system="sysvinit", **config)
            return hosts.host_for(
                "linux",
                lambda key, default=None: config.get(key, default),
                {},
                timeout=10,
                cache_dir=os.path.join(tmp, "cache"),
            )

        on, off = host(), host(version_cache=False)
        on.version()  # kept
        rows = interleaved(
            {
                "version, off (-v every call)": (off.version, None),
                "version, hit": (on.version, None),
                "status, off (-v every call)": (off.status, None),
                "status, hit": (on.status, None),
            },
            calls,
        )
        # Last: a miss touches the binary, which then stays too young to be kept.
        rows.update(
            interleaved({"version, miss": (on.version, lambda: os.utime(install.binary))}, calls)
        )
        rows = list(rows.items())
    width = max(len(name) for name, _ in rows)
    print(f"median of {calls} calls, ms")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:7.3f}")


if __name__ == "__main__":
    main()
