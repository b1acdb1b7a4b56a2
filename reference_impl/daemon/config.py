"""Daemon configuration files (YAML) for ``hmipv6-map`` and ``hmipv6-ar``.

The file names the role, the edition, the control socket, and one section per role; see the
README for an example.  Times are in seconds.  Errors name the file and the key.  Interface
link-layer addresses are read from the interfaces themselves when the daemon starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ..ar.config import ArConfig, ArInterface, FailureDetection
from ..editions import EDITIONS
from ..map.config import MapConfig
from ..wire.addresses import ip6, ip6_prefix
from ..wire.icmpv6 import MapOption, PrefixInformation


class ConfigError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


@dataclasses.dataclass
class DaemonConfig:
    path: str
    role: str
    edition: str
    control_socket: str
    log_file: str | None
    section: dict[str, Any]


def load_config(path: str) -> DaemonConfig:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"YAML syntax error: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(path, "must be a mapping")
    role = doc.get("role")
    if role not in ("map", "ar"):
        raise ConfigError(path, f"role must be 'map' or 'ar', got {role!r}")
    unknown = set(doc) - {"role", "edition", "control_socket", "log_file", role}
    if unknown:
        raise ConfigError(path, f"unknown keys: {', '.join(sorted(unknown))}")
    edition = doc.get("edition", "rfc4140")
    if edition not in EDITIONS:
        raise ConfigError(path, f"edition must be one of {', '.join(EDITIONS)}")
    if "control_socket" not in doc:
        raise ConfigError(path, "missing control_socket")
    section = doc.get(role)
    if not isinstance(section, dict):
        raise ConfigError(path, f"missing section '{role}'")
    return DaemonConfig(path, role, edition, str(doc["control_socket"]), doc.get("log_file"), section)


def _check_keys(path: str, where: str, spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(path, f"{where}: unknown keys {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")


MAP_KEYS = {"address", "home_iface", "listen", "prefix_length", "onlink_prefixes", "forward_prefixes",
            "max_bindings", "max_binding_lifetime", "dad", "dad_retrans_timer", "dad_transmits", "preference",
            "dist", "r_flag"}


def map_config(cfg: DaemonConfig, macs: dict[str, bytes]) -> MapConfig:
    """The MAP core configuration; ``macs``: link-layer address per interface."""
    s = cfg.section
    _check_keys(cfg.path, "map", s, MAP_KEYS)
    dad = s.get("dad", "on")
    dad = {True: "on", False: "off"}.get(dad, dad)  # YAML 1.1 reads a bare on/off as a boolean
    try:
        onlink = s.get("onlink_prefixes")
        return MapConfig(
            address=ip6(s["address"]), home_iface=s["home_iface"], link_address=macs[s["home_iface"]],
            prefix_length=int(s.get("prefix_length", 64)),
            onlink_prefixes=None if onlink is None else tuple(ip6_prefix(p) for p in onlink),
            forward_prefixes=tuple(ip6_prefix(p) for p in s.get("forward_prefixes", ())),
            max_bindings=int(s.get("max_bindings", 1024)),
            max_binding_lifetime=int(s.get("max_binding_lifetime", 0xFFFF * 4)),
            dad=dad, dad_retrans_timer=float(s.get("dad_retrans_timer", 1.0)),
            dad_transmits=int(s.get("dad_transmits", 1)),
            preference=int(s.get("preference", 10)), dist=int(s.get("dist", 1)), r_flag=s.get("r_flag"),
        )
    except KeyError as exc:
        raise ConfigError(cfg.path, f"map: missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(cfg.path, f"map: {exc}") from None


AR_KEYS = {"interfaces", "maps", "discovery", "probe_source", "failure_detection", "max_initial_interval",
           "max_ra_delay", "local_map"}
IFACE_KEYS = {"name", "advertise", "prefixes", "max_interval", "min_interval", "min_delay_between_ras",
              "send_map_options", "listen_map_options", "unsolicited", "router_lifetime"}
MAPOPT_KEYS = {"address", "dist", "pref", "r", "valid_lifetime"}


def _map_option(path: str, spec: dict[str, Any]) -> MapOption:
    _check_keys(path, "map option", spec, MAPOPT_KEYS)
    return MapOption(ip6(spec["address"]), dist=int(spec.get("dist", 1)), pref=int(spec.get("pref", 10)),
                     r=bool(spec.get("r", True)), valid_lifetime=int(spec.get("valid_lifetime", 86400)))


def ar_config(cfg: DaemonConfig, macs: dict[str, bytes]) -> ArConfig:
    s = cfg.section
    _check_keys(cfg.path, "ar", s, AR_KEYS)
    try:
        interfaces = []
        for spec in s["interfaces"]:
            _check_keys(cfg.path, f"ar interface {spec.get('name')}", spec, IFACE_KEYS)
            prefixes = tuple(PrefixInformation(*ip6_prefix(p)) for p in spec.get("prefixes", ()))
            interfaces.append(ArInterface(
                name=spec["name"], link_address=macs[spec["name"]], advertise=bool(spec.get("advertise", True)),
                prefixes=prefixes, max_interval=float(spec.get("max_interval", 600.0)),
                min_interval=spec.get("min_interval"), min_delay_between_ras=spec.get("min_delay_between_ras"),
                send_map_options=bool(spec.get("send_map_options", True)),
                listen_map_options=bool(spec.get("listen_map_options", False)),
                unsolicited=bool(spec.get("unsolicited", True)), router_lifetime=spec.get("router_lifetime")))
        fd = s.get("failure_detection", {})
        _check_keys(cfg.path, "failure_detection", fd, {"enabled", "interval", "aggressive_interval",
                                                        "aggressive_duration"})
        source = s.get("probe_source")
        detection = FailureDetection(
            enabled=bool(fd.get("enabled", True)), source=ip6(source) if source else None,
            interval=float(fd.get("interval", 10.0)), aggressive_interval=float(fd.get("aggressive_interval", 5.0)),
            aggressive_duration=float(fd.get("aggressive_duration", 15.0)))
        local = s.get("local_map")
        return ArConfig(
            interfaces=tuple(interfaces), manual_maps=tuple(_map_option(cfg.path, m) for m in s.get("maps", ())),
            discovery=s.get("discovery", "manual"), local_map=_map_option(cfg.path, local) if local else None,
            failure_detection=detection, max_initial_interval=float(s.get("max_initial_interval", 16.0)),
            max_ra_delay=float(s.get("max_ra_delay", 0.5)))
    except KeyError as exc:
        raise ConfigError(cfg.path, f"ar: missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(cfg.path, f"ar: {exc}") from None
