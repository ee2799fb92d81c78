"""The vendor's procedure for stopping and starting the Cloud Assistant client, kept as data.

Alibaba Cloud's page "stop or start the Cloud Assistant client" decides by platform, then by
client version (``aliyun-service -v``), then by init system.  ``TABLE`` is that page, row by
row; ``choose`` is the one pure function that reads it.  Nothing here touches the host.

Two additions to the page, both documented in the README:

- Legacy clients (1.0.1.308 and older) on a non-systemd host: the page says
  ``chkconfig agentwatch off``/``on``, which only changes what starts at boot.  Where the host
  has ``/etc/init.d/agentwatch`` the same branch then runs it, so the client really stops or
  starts now; where it has no ``chkconfig`` the branch fails (see ``tool``).
- Windows rows name a Salt function, not a program: the Service Control Manager is driven
  through Salt's ``win_service`` module.
"""

import shlex

# Clients at or below this version are managed through ``agentwatch``.
LEGACY_LAST = (1, 0, 1, 308)

INIT_SYSTEMS = ("systemd", "upstart", "sysvinit", "windows")

# kind "command": every step is an argument list run on the host, in order.  A step with
# ``if_exists`` runs only when that path exists.  ``tool`` is the program the branch cannot
# do without.
# kind "salt": the step names a Salt execution function and its argument.
TABLE = (
    {
        "platform": "windows",
        "legacy": None,
        "init_systems": ("windows",),
        "branch": "Windows, any client version, Service Control Manager",
        "kind": "salt",
        "service": "AliyunService",
        "tool": None,
        "stop": ({"argv": ("service.stop", "AliyunService")},),
        "start": ({"argv": ("service.start", "AliyunService")},),
    },
    {
        "platform": "linux",
        "legacy": True,
        "init_systems": ("systemd",),
        "branch": "Linux, client 1.0.1.308 or older, systemd",
        "kind": "command",
        "service": "agentwatch",
        "tool": "systemctl",
        "stop": ({"argv": ("systemctl", "stop", "agentwatch")},),
        "start": ({"argv": ("systemctl", "start", "agentwatch")},),
    },
    {
        "platform": "linux",
        "legacy": True,
        "init_systems": ("upstart", "sysvinit"),
        "branch": "Linux, client 1.0.1.308 or older, init system other than systemd",
        "kind": "command",
        "service": "agentwatch",
        "tool": "chkconfig",
        "stop": (
            {"argv": ("chkconfig", "agentwatch", "off")},
            {"argv": ("/etc/init.d/agentwatch", "stop"), "if_exists": "/etc/init.d/agentwatch"},
        ),
        "start": (
            {"argv": ("chkconfig", "agentwatch", "on")},
            {"argv": ("/etc/init.d/agentwatch", "start"), "if_exists": "/etc/init.d/agentwatch"},
        ),
    },
    {
        "platform": "linux",
        "legacy": False,
        "init_systems": ("systemd",),
        "branch": "Linux, client newer than 1.0.1.308, systemd",
        "kind": "command",
        "service": "aliyun.service",
        "tool": "systemctl",
        "stop": ({"argv": ("systemctl", "stop", "aliyun.service")},),
        "start": ({"argv": ("systemctl", "start", "aliyun.service")},),
    },
    {
        "platform": "linux",
        "legacy": False,
        "init_systems": ("upstart",),
        "branch": "Linux, client newer than 1.0.1.308, upstart",
        "kind": "command",
        "service": "aliyun-service",
        "tool": "/sbin/initctl",
        "stop": ({"argv": ("/sbin/initctl", "stop", "aliyun-service")},),
        "start": ({"argv": ("/sbin/initctl", "start", "aliyun-service")},),
    },
    {
        "platform": "linux",
        "legacy": False,
        "init_systems": ("sysvinit",),
        "branch": "Linux, client newer than 1.0.1.308, sysvinit",
        "kind": "command",
        "service": "/etc/init.d/aliyun-service",
        "tool": "/etc/init.d/aliyun-service",
        "stop": ({"argv": ("/etc/init.d/aliyun-service", "stop")},),
        "start": ({"argv": ("/etc/init.d/aliyun-service", "start")},),
    },
)


def is_legacy(version):
    """True for a client at or below 1.0.1.308 (``version`` is a tuple of ints)."""
    return tuple(version) <= LEGACY_LAST


def choose(platform, version, init_system):
    """Return the row of the vendor's table for this host.

    ``platform`` is ``"linux"`` or ``"windows"``; ``version`` a tuple of four ints (ignored
    on Windows, may be None there); ``init_system`` one of ``INIT_SYSTEMS``.  Raises
    ``ValueError`` for a combination the table does not cover.
    """
    if init_system not in INIT_SYSTEMS:
        raise ValueError(
            "unknown init system {!r}; valid: {}".format(init_system, ", ".join(INIT_SYSTEMS))
        )
    if platform == "linux":
        if version is None:
            raise ValueError("on Linux the branch depends on the client version, which is unknown")
        legacy = is_legacy(version)
    else:
        legacy = None
    for row in TABLE:
        if (
            row["platform"] == platform
            and row["legacy"] == legacy
            and init_system in row["init_systems"]
        ):
            return dict(row)
    raise ValueError(
        "the vendor's procedure has no branch for platform {!r} with init system {!r}".format(
            platform, init_system
        )
    )


def command_text(steps):
    """The steps as an operator would type them: ``a b; c d``."""
    return "; ".join(shlex.join(step["argv"]) for step in steps)
