"""Salt extension for the Alibaba Cloud Assistant client (``saltext.cloudassist``).

Installed with pip, Salt finds the execution module, the states and (later) the grains,
beacons and runners through the ``salt.loader`` entry point, which names this package:
the loader looks in its ``modules``, ``states``, ``grains``, ``beacons`` and ``runners``
subpackages. Those subpackages are the checkout's ``_modules``, ``_states``, ``_grains``,
``_beacons`` and ``_runners`` folders themselves (mapped by ``package_dir`` in setup.cfg),
the same files a master syncs from ``file_roots``; ``utils`` is ``_utils``.
"""

__version__ = "0.2.0"
