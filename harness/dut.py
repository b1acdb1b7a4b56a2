"""The DUT handle: read and steer the device under test through its DUT profile.

A DUT profile (``testbeds/profiles/*.yaml``) holds command templates per role (identity, start, stop,
show, set_preference, map_down, map_up) and says how ``show`` output is parsed.  The handle runs them
over the DUT's management connection.  What a profile lacks raises
:class:`~harness.verdicts.Inconclusive` with the reason: a test needing a state read-out the device
cannot give is INCONCLUSIVE, never FAIL.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from harness import paths
from harness.errors import InfrastructureError, TestbedError
from harness.testbed.backend import TestbedBackend
from harness.verdicts import Inconclusive

PROFILES_DIR = paths.TESTBEDS_DIR / "profiles"
COMMANDS = ("identity", "start", "stop", "show", "set_preference", "map_down", "map_up", "install_sa")


@dataclasses.dataclass
class DutProfile:
    name: str
    description: str
    parse: str
    variables: dict[str, str]
    roles: dict[str, dict[str, Any]]
    path: Path

    @classmethod
    def load(cls, name_or_path: str | Path) -> "DutProfile":
        path = Path(name_or_path)
        if not path.suffix:
            path = PROFILES_DIR / f"{name_or_path}.yaml"
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise TestbedError(f"DUT profile {path}: {exc}") from None
        unknown = set(raw) - {"name", "description", "parse", "variables", "roles"}
        if unknown:
            raise TestbedError(f"DUT profile {path}: unknown keys {', '.join(sorted(unknown))}")
        if raw.get("parse", "json") not in ("json", "lines"):
            raise TestbedError(f"DUT profile {path}: parse must be 'json' or 'lines'")
        for role, commands in raw.get("roles", {}).items():
            bad = set(commands) - set(COMMANDS) - {"bindings"}
            if bad:
                raise TestbedError(f"DUT profile {path}: role {role}: unknown commands {', '.join(sorted(bad))}")
        return cls(raw["name"], raw.get("description", ""), raw.get("parse", "json"), raw.get("variables", {}),
                   raw.get("roles", {}), path)


class DutHandle:
    """The device under test: its node, role, driver and profile."""

    def __init__(self, backend: TestbedBackend, node: str, role: str, profile: DutProfile,
                 variables: dict[str, str] | None = None) -> None:
        self.backend, self.node, self.role, self.profile = backend, node, role, profile
        self.variables = {**profile.variables, **(variables or {})}

    @property
    def driver(self):
        return self.backend.driver(self.node)

    def _template(self, command: str) -> str:
        template = self.profile.roles.get(self.role, {}).get(command)
        if template is None:
            raise Inconclusive(f"the DUT profile {self.profile.name!r} has no '{command}' command for role "
                               f"{self.role}: the test needs it")
        return template

    def command(self, command: str, **params: Any) -> str:
        """Run a profile command; return its output.  A non-zero exit status is an infrastructure error."""
        text = self._template(command).format(**{**self.variables, **params})
        result = self.driver.run(text, timeout=30)
        if not result.ok:
            raise InfrastructureError(f"DUT {self.node}: '{command}' exited {result.exit_status}: "
                                      f"{(result.stderr or result.stdout).strip()[-300:]}")
        return result.stdout

    def install_sa(self, pair: dict[str, Any]) -> tuple[bool, str]:
        """Ask the DUT to install a manually keyed SA pair (``{name, map, rcoa, to_map: {...}, to_mn: {...}}`` as in
        a testbed's ``security.sas``; the profile's ``install_sa`` gets it as ``{sa_json}``, shell-quoted).
        Returns (accepted, output): a refusal is the device's answer, not an infrastructure error."""
        text = self._template("install_sa").format(**{**self.variables, "sa_json": shlex.quote(json.dumps(pair))})
        result = self.driver.run(text, timeout=30)
        return result.ok, (result.stdout + result.stderr).strip()

    def identity(self) -> str:
        try:
            return self.command("identity").strip()
        except Inconclusive:
            return "unknown (the DUT profile has no identity command)"

    def show(self) -> Any:
        out = self.command("show")
        if self.profile.parse == "json":
            try:
                return json.loads(out)
            except ValueError:
                raise InfrastructureError(f"DUT {self.node}: 'show' did not print JSON: {out[:200]!r}") from None
        return out

    def bindings(self) -> list[dict[str, Any]]:
        """The binding cache as ``[{rcoa, lcoa, seq, lifetime}]`` (fields the profile maps)."""
        spec = self.profile.roles.get(self.role, {}).get("bindings")
        if spec is None:
            raise Inconclusive(f"the DUT profile {self.profile.name!r} cannot read the binding cache")
        shown = self.show()
        if "pattern" in spec:
            return [{k: (int(v) if v.isdigit() else v) for k, v in m.groupdict().items()}
                    for m in re.finditer(spec["pattern"], shown)]
        node: Any = shown
        for part in spec["path"].split("."):
            node = node[part]
        return [{ours: entry.get(theirs) for ours, theirs in spec["fields"].items()} for entry in node]

    def binding_for(self, rcoa: str) -> dict[str, Any] | None:
        return next((b for b in self.bindings() if b.get("rcoa") == rcoa), None)

    def restart(self) -> None:
        """Bring the DUT back to its initial state (the virtual testbed restarts the daemon)."""
        if hasattr(self.backend, "restart_service"):
            self.backend.restart_service(self.node)
            return
        self.command("stop")
        self.command("start")
