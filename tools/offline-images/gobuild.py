"""Build Go programs from their published modules, through a generated wrapper module.

`go install module@version` refuses modules whose go.mod has replace/exclude lines, and the
Kubernetes staging modules are required at v0.0.0. A wrapper module that requires the
upstream module and repeats its (non-local) replace and exclude lines builds the same code.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from steps import StepFailed, artefact, log, run

# Bump when the way a program is built here changes (wrapper go.mod, build flags): it is part of
# every program's key (keys.go_key), so the change rebuilds them all.
RECIPE = "g1"


@dataclass(frozen=True)
class GoProgram:
    """One wrapper module and the main packages built from it."""

    name: str  # e.g. "etcd": the wrapper module's and (with its key) the cache folder's name
    module: str  # e.g. go.etcd.io/etcd/server/v3; "" for a program of ours with no dependencies
    version: str  # the module's version (for a module-less program: the version it stands for)
    binaries: dict[str, str]  # output name -> main package path
    ldflags: str = "-s -w"
    # Local-path replaces required at v0.0.0 are re-pointed at this version (Kubernetes staging).
    staging_version: str | None = None
    extra_requires: dict[str, str] = field(default_factory=dict)
    # module -> the version it is replaced with: a dependency version the module proxy does not serve.
    replaces: dict[str, str] = field(default_factory=dict)
    # Our own packages (folder name in the wrapper -> source folder), compiled inside the wrapper.
    local_packages: dict[str, Path] = field(default_factory=dict)


def go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}


def module_dir(module: str, version: str) -> Path:
    out = run(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env(), capture=True)
    info = json.loads(out)
    if info.get("Error"):
        raise StepFailed(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def _wrapper_gomod(program: GoProgram, upstream: Path) -> str:
    spec = json.loads(run(["go", "mod", "edit", "-json", str(upstream / "go.mod")], capture=True))
    go_line = spec.get("Go", "1.24")
    lines = [f"module servicelab.local/build/{program.name}", "", f"go {go_line}", ""]
    if spec.get("Godebug"):
        lines += [f"godebug {item['Key']}={item['Value']}" for item in spec["Godebug"]] + [""]
    requires = {program.module: program.version, **program.extra_requires}
    lines += ["require ("] + [f"\t{mod} {ver}" for mod, ver in requires.items()] + [")", ""]
    staged = {req["Path"] for req in spec.get("Require", []) if req["Version"] == "v0.0.0"}
    replaces = [f"\t{module} => {module} {version}" for module, version in program.replaces.items()]
    for rep in spec.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        if old["Path"] in program.replaces:
            continue  # ours wins
        if new.get("Version"):
            replaces.append(f"\t{old['Path']} => {new['Path']} {new['Version']}")
        elif program.staging_version and old["Path"] in staged:
            replaces.append(f"\t{old['Path']} => {old['Path']} {program.staging_version}")
        # other local-path replaces point at sibling modules the requires already name
    if replaces:
        lines += ["replace (", *replaces, ")", ""]
    lines += [f"exclude {ex['Path']} {ex['Version']}" for ex in spec.get("Exclude") or []]
    return "\n".join(lines) + "\n"


def build(program: GoProgram, cache: Path, key: str) -> Path:
    """Build every binary of program into cache/go-<name>-<key>/bin; reuse what is there.

    key is the hash of all the program's inputs (keys.go_key): a changed input makes a new folder,
    and Go's own build cache keeps the recompile to what actually changed.
    """
    root = cache / f"go-{program.name}-{key}"
    bindir = root / "bin"
    if all((bindir / out).is_file() for out in program.binaries):
        log(f"{program.name}: cached in {bindir}")
        artefact(reused=True)
        return bindir
    artefact(reused=False)
    wrap = root / "wrap"
    wrap.mkdir(parents=True, exist_ok=True)
    bindir.mkdir(parents=True, exist_ok=True)
    _write_wrapper(program, wrap)
    run(["go", "mod", "tidy"], cwd=wrap, env=go_env())
    for out, pkg in program.binaries.items():
        if (bindir / out).is_file():
            continue
        log(f"{program.name}: go build {pkg}")
        run(
            ["go", "build", "-trimpath", "-ldflags", program.ldflags, "-o", str(bindir / f".{out}.tmp"), pkg],
            cwd=wrap,
            env=go_env(),
        )
        (bindir / f".{out}.tmp").rename(bindir / out)
    return bindir


def _write_wrapper(program: GoProgram, wrap: Path) -> None:
    if program.module:
        gomod = _wrapper_gomod(program, module_dir(program.module, program.version))
    else:
        gomod = f"module servicelab.local/build/{program.name}\n\ngo 1.24\n"
    (wrap / "go.mod").write_text(gomod)
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in program.binaries.values() if not pkg.startswith("./"))
    if imports:
        (wrap / "tools.go").write_text(f"//go:build tools\n\npackage build\n\nimport (\n{imports}\n)\n")
    for folder, source in program.local_packages.items():
        # The whole folder: keys.go_key hashes every file in it.
        shutil.copytree(source, wrap / folder, dirs_exist_ok=True)
