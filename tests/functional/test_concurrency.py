"""Two jobs on one minion at once: no traceback, and what each reports is true."""

from concurrent.futures import ThreadPoolExecutor


def _together(host, *calls):
    # A minion that has run before has its cache folders; two first runs at once would race
    # in Salt's own start-up making them, which is not what is tested here.
    assert host.salt_call("test.true").returncode == 0
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda args: host.salt_call(*args), calls))


def test_racing_stop_and_start(host):
    host.install_client()
    host.install_init_script()
    host.start_client()
    for _ in range(3):
        stop, start = _together(host, ("cloudassist.stop",), ("cloudassist.start",))
        for res in (stop, start):
            assert res.returncode == 0, res
            assert "Traceback" not in res.stderr
        assert stop.data["running"] is False
        assert start.data["running"] is True and start.data["pids"]
        actual = host.client_pids()
        # actions take turns: whichever ran last decided what runs now
        assert actual == [] or actual == start.data["pids"], (actual, stop.data, start.data)


def _finished(ret):
    hours, minutes, seconds = ret["start_time"].split(":")
    return (int(hours) * 60 + int(minutes)) * 60 + float(seconds) + ret["duration"] / 1000


def test_two_state_runs_at_once(host):
    host.install_client()
    host.install_init_script()
    host.sls_file("ca_on", "ca:\n  cloudassist.running: []\n")
    host.sls_file("ca_off", "ca:\n  cloudassist.stopped: []\n")
    for _ in range(3):
        before = bool(host.client_pids())
        on, off = _together(host, ("state.apply", "ca_on"), ("state.apply", "ca_off"))
        outcomes = [(0, before)]  # when Salt refuses both runs, nothing may have changed
        for res, want in ((on, True), (off, False)):
            assert "Traceback" not in res.stderr + res.stdout, res
            if isinstance(res.data, list):
                # Salt itself refused the second state run: that is said, not hidden
                assert res.returncode != 0 and "is running as PID" in res.data[0], res
                continue
            (ret,) = res.data.values()
            assert res.returncode == 0 and ret["result"] is True, res
            outcomes.append((_finished(ret), want))
        # changes are made one at a time, so the state run that finished last decided
        assert bool(host.client_pids()) == max(outcomes)[1], outcomes
