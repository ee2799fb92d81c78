"""The vendor's procedure for stopping and starting the Cloud Assistant client, kept as data.

Alibaba Cloud's page "stop or start the Cloud Assistant client" decides by platform, then by
client version (``aliyun-service -v``), then by init system.  ``TABLE`` is that page, row by
row; ``choose`` is the one pure function that reads it.  Nothing here touches the host.

Two additions to the page, both documented in the docs (the vendor's table):

- Legacy clients (1.0.1.308 and older) on a non-systemd host: the page says
  ``chkconfig agentwatch off``/``on``, which only changes what starts at boot.  Where the host
  has ``/etc/init.d/agentwatch`` the same branch then runs it, so the client really stops or
  starts now; where it has no ``chkconfig`` the branch fails (see ``Branch.tool``).
- Windows rows name a Salt function, not a program: the Service Control Manager is driven
  through Salt's ``win_service`` module.
"""

from _cloudassist_records import Branch, Step

# Clients at or below this version are managed through ``agentwatch``.
LEGACY_LAST = (1, 0, 1, 308)

INIT_SYSTEMS = ("systemd", "upstart", "sysvinit", "windows")


def _run(*argv, if_exists=None):
    return Step(argv=argv, if_exists=if_exists)


def _salt(function, argument):
    return Step(argv=(function, argument), kind="salt")


TABLE = (
    Branch(
        platform="windows",
        legacy=None,
        init_systems=("windows",),
        name="Windows, any client version, Service Control Manager",
        service="AliyunService",
        tool=None,
        stop=(_salt("service.stop", "AliyunService"),),
        start=(_salt("service.start", "AliyunService"),),
    ),
    Branch(
        platform="linux",
        legacy=True,
        init_systems=("systemd",),
        name="Linux, client 1.0.1.308 or older, systemd",
        service="agentwatch",
        tool="systemctl",
        stop=(_run("systemctl", "stop", "agentwatch"),),
        start=(_run("systemctl", "start", "agentwatch"),),
    ),
    Branch(
        platform="linux",
        legacy=True,
        init_systems=("upstart", "sysvinit"),
        name="Linux, client 1.0.1.308 or older, init system other than systemd",
        service="agentwatch",
        tool="chkconfig",
        stop=(
            _run("chkconfig", "agentwatch", "off"),
            _run("/etc/init.d/agentwatch", "stop", if_exists="/etc/init.d/agentwatch"),
        ),
        start=(
            _run("chkconfig", "agentwatch", "on"),
            _run("/etc/init.d/agentwatch", "start", if_exists="/etc/init.d/agentwatch"),
        ),
        sets_boot=True,
    ),
    Branch(
        platform="linux",
        legacy=False,
        init_systems=("systemd",),
        name="Linux, client newer than 1.0.1.308, systemd",
        service="aliyun.service",
        tool="systemctl",
        stop=(_run("systemctl", "stop", "aliyun.service"),),
        start=(_run("systemctl", "start", "aliyun.service"),),
    ),
    Branch(
        platform="linux",
        legacy=False,
        init_systems=("upstart",),
        name="Linux, client newer than 1.0.1.308, upstart",
        service="aliyun-service",
        tool="/sbin/initctl",
        stop=(_run("/sbin/initctl", "stop", "aliyun-service"),),
        start=(_run("/sbin/initctl", "start", "aliyun-service"),),
    ),
    Branch(
        platform="linux",
        legacy=False,
        init_systems=("sysvinit",),
        name="Linux, client newer than 1.0.1.308, sysvinit",
        service="/etc/init.d/aliyun-service",
        tool="/etc/init.d/aliyun-service",
        stop=(_run("/etc/init.d/aliyun-service", "stop"),),
        start=(_run("/etc/init.d/aliyun-service", "start"),),
    ),
)


def is_legacy(version):
    """True for a client at or below 1.0.1.308 (``version`` is a tuple of ints)."""
    return tuple(version) <= LEGACY_LAST


def choose(platform, version, init_system):
    """Return the ``Branch`` of the vendor's table for this host.

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
        if row.platform == platform and row.legacy == legacy and init_system in row.init_systems:
            return row
    raise ValueError(
        f"the vendor's procedure has no branch for platform {platform!r} "
        f"with init system {init_system!r}"
    )


# The names the client gives its own systemd unit (see the spec): the vendor's page knows only
# the first; a systemd host without binutils gets the second.
CLIENT_UNITS = ("aliyun.service", "aliyun-service.service")


def for_service(branch, name):
    """``branch`` managing ``name`` instead of the unit the vendor's page names."""
    if name == branch.service:
        return branch

    def renamed(steps):
        return tuple(
            step._replace(argv=tuple(name if arg == branch.service else arg for arg in step.argv))
            for step in steps
        )

    return branch._replace(service=name, stop=renamed(branch.stop), start=renamed(branch.start))
