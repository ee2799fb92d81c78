"""Load a cloudassist Salt module outside Salt, with the dunders Salt would give it.

For unit tests of the parts that cannot run here for real (Windows' Service Control
Manager): the module's own code runs, and ``__utils__`` holds the real _utils functions.
"""

import importlib.util
import inspect
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
UTILS = ("cloudassist_args", "cloudassist_facts", "cloudassist_procedure", "cloudassist_run")


def utils_dunder():
    funcs = {}
    for name in UTILS:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if not attr.startswith("_") and (inspect.isfunction(value) or attr.isupper()):
                funcs["{}.{}".format(name, attr)] = value
    return funcs


def load(kind, salt_funcs, opts=None, config=None):
    """Load ``_modules/cloudassist.py`` (kind "modules") or ``_states/...`` (kind "states")."""
    path = ROOT / "_{}".format(kind) / "cloudassist.py"
    spec = importlib.util.spec_from_file_location("cloudassist_{}_under_test".format(kind), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = dict(config or {})

    def config_get(key, default=None):
        return config.get(key.split(":", 1)[1], default)

    salt_funcs.setdefault("config.get", config_get)
    module.__salt__ = salt_funcs
    module.__utils__ = utils_dunder()
    module.__opts__ = dict(opts or {})
    return module
