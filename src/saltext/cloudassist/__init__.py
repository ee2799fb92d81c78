"""Salt extension for the Alibaba Cloud Assistant client (``saltext.cloudassist``).

Installed with pip, Salt finds the execution module, the states, the grain, the beacon and
the runner through the ``salt.loader`` entry point, which names this package: the loader looks
in its ``modules``, ``states``, ``grains``, ``beacons`` and ``runners`` subpackages.  Those are
links to the checkout's ``_modules``, ``_states``, ``_grains``, ``_beacons`` and ``_runners``
folders: the same files a master syncs from ``file_roots``.  Each entry file imports the
library, ``modules/_cloudassist_*.py`` (``_modules/_cloudassist_lib.py`` says how and why).
"""

__version__ = "0.3.0.dev0"
