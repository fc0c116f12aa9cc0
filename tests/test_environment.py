"""environment.yml and pyproject.toml must list the same packages at the same versions."""

import re
import tomllib

from conftest import ROOT


def _pyproject_pins() -> dict[str, str]:
    d = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = list(d["project"]["dependencies"])
    for extra in d["project"]["optional-dependencies"].values():
        deps += extra
    out = {}
    for dep in deps:
        name, _, ver = dep.partition("==")
        assert ver, f"pyproject.toml: {dep!r} is not pinned with =="
        out[name.strip().lower()] = ver.strip()
    return out


def _environment_pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^\s#]+)", line)
        if m and m.group(1).lower() != "python":
            out[m.group(1).lower()] = m.group(3)
    return out


def test_environment_yml_matches_pyproject():
    py, env = _pyproject_pins(), _environment_pins()
    assert py, "no pins read from pyproject.toml"
    missing = sorted(set(py) - set(env))
    extra = sorted(set(env) - set(py))
    differ = {k: (py[k], env[k]) for k in set(py) & set(env) if py[k] != env[k]}
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    assert not differ, f"pins differ (pyproject, environment.yml): {differ}"


def test_jupyterlab_is_not_in_the_executing_environment():
    d = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(x.lower().startswith("jupyterlab") for x in d["project"]["dependencies"])
    assert any(x.lower().startswith("jupyterlab") for x in d["project"]["optional-dependencies"]["lab"])
