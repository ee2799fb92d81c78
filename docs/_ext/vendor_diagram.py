"""The vendor's table as a Graphviz diagram, drawn from the table the code runs.

``dot_source(table, legacy_last)`` turns ``_cloudassist_procedure.TABLE`` into dot text: one
path per row, platform, then client version, then init system, to the commands that row
stops and starts the client with.  At ``builder-inited`` the extension writes it to
``docs/_generated/vendor-table.dot``, which ``decisions.md`` shows with Sphinx's graphviz
extension: the picture cannot say other than the code does.
"""

import importlib.util
import pathlib

DOCS = pathlib.Path(__file__).resolve().parent.parent
# The path autodoc's imports use too (src/ links to _modules): one copy of the library loaded.
LIBRARY = DOCS.parent / "src" / "saltext" / "cloudassist" / "modules" / "_cloudassist_lib.py"
OUT = DOCS / "_generated" / "vendor-table.dot"


def procedure():
    """The library's ``_cloudassist_procedure``, imported as the entry files import it."""
    spec = importlib.util.spec_from_file_location("_cloudassist_lib", LIBRARY)
    lib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lib)
    with lib.imported():
        import _cloudassist_procedure

    return _cloudassist_procedure


def _quote(text):
    # Labels carry dot's own escapes (\\l ends a left-aligned line): backslashes pass as they are.
    return '"' + text.replace('"', '\\"') + '"'


def _command(step):
    words = " ".join(step.argv)
    if step.kind == "salt":
        words = f"Salt: {words}"
    if step.if_exists:
        words += f"\\l    (where {step.if_exists} exists)"
    return words


def _leaf(branch):
    lines = [f"service: {branch.service}"]
    for verb, steps in (("stop", branch.stop), ("start", branch.start)):
        lines.append(f"{verb}: " + "\\l  then ".join(_command(step) for step in steps))
    return "\\l".join(lines) + "\\l"


def dot_source(table, legacy_last):
    """Dot text for ``table`` (Branch records); ``legacy_last``: the last legacy version."""
    last = ".".join(str(part) for part in legacy_last)
    version_label = {True: f"{last} or older", False: f"newer than {last}"}
    out = [
        "digraph vendor_table {",
        '  rankdir=LR; node [fontname="sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=10];',
        '  platform [shape=diamond, label="platform"];',
    ]
    seen = set()

    def node(name, **attrs):
        if name not in seen:
            seen.add(name)
            body = ", ".join(f"{key}={_quote(value)}" for key, value in attrs.items())
            out.append(f"  {_quote(name)} [{body}];")

    for index, branch in enumerate(table):
        leaf = f"row{index}"
        node(leaf, shape="box", label=_leaf(branch))
        if branch.legacy is None:
            out.append(f"  platform -> {leaf} [label={_quote(branch.platform.title())}];")
            continue
        version = f"{branch.platform} version"
        node(version, shape="diamond", label="client version\\n(aliyun-service -v)")
        if ("platform", version) not in seen:
            seen.add(("platform", version))
            out.append(
                f"  platform -> {_quote(version)} [label={_quote(branch.platform.title())}];"
            )
        init = f"{branch.platform} {branch.legacy} init"
        node(init, shape="diamond", label="init system")
        if (version, init) not in seen:
            seen.add((version, init))
            label = version_label[branch.legacy]
            out.append(f"  {_quote(version)} -> {_quote(init)} [label={_quote(label)}];")
        label = " or ".join(branch.init_systems)
        out.append(f"  {_quote(init)} -> {leaf} [label={_quote(label)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def write(app=None):
    module = procedure()
    text = dot_source(module.TABLE, module.LEGACY_LAST)
    OUT.parent.mkdir(exist_ok=True)
    if not OUT.exists() or OUT.read_text() != text:
        OUT.write_text(text)


def setup(app):
    app.connect("builder-inited", write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
