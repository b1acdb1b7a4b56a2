"""Daemon configuration files (YAML) for the reference daemons (``hmipv6-map``, ``-ar``, ``-ha``, ``-cn``, ...).

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
from ..cn.config import CnConfig
from ..cn.rr import MAX_NONCE_LIFETIME, MAX_RR_BINDING_LIFETIME
from ..editions import EDITIONS
from ..ha.config import HaConfig
from ..homelink import INFINITE as HOME_INFINITE
from ..map.config import MapConfig
from ..security import IpsecSecurity, NullSecurity, SaConfigError, security_from_config
from .seqfile import SequenceFile, SequenceFileError
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
    security: dict[str, Any] | None = None  # the top-level ``security:`` section (MAP and MN: IPsec SA pairs)


ROLES = ("map", "ar", "mn", "ha", "cn")


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
    if role not in ROLES:
        raise ConfigError(path, f"role must be one of {', '.join(ROLES)}, got {role!r}")
    unknown = set(doc) - {"role", "edition", "control_socket", "log_file", "security", role}
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
    if "security" in doc and role not in ("map", "mn"):
        raise ConfigError(path, f"security: only the MAP and the mobile node protect signalling (base §12.1), "
                                f"not the {role}")
    return DaemonConfig(path, role, edition, str(doc["control_socket"]), doc.get("log_file"), section,
                        doc.get("security"))


def signalling_security(cfg: DaemonConfig) -> NullSecurity | IpsecSecurity:
    """The security seam the ``security:`` section asks for; a refused SA is a :class:`ConfigError`.

    ``security.sequence_file`` (optional): where the outbound sequence numbers' high-water marks are kept, so a
    restarted daemon does not send numbers its peers' anti-replay windows have already seen
    (:mod:`reference_impl.daemon.seqfile`)."""
    raw = cfg.security
    store = None
    if isinstance(raw, dict) and "sequence_file" in raw:
        raw = dict(raw)
        path = raw.pop("sequence_file")
        if not isinstance(path, str) or not path:
            raise ConfigError(cfg.path, "security.sequence_file: must be a file path")
        try:
            store = SequenceFile(path)
        except SequenceFileError as exc:
            raise ConfigError(cfg.path, f"security.sequence_file: {exc}") from None
    try:
        return security_from_config(raw, cfg.role, sequences=store)
    except SaConfigError as exc:
        raise ConfigError(cfg.path, str(exc)) from None


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


# ---------------------------------------------------------------------------------------- home agent, correspondent

_REQUIRED = object()


def _value(cfg: DaemonConfig, key: str, convert: Any, default: Any = _REQUIRED) -> Any:
    """``convert(section[key])``, or ``default``; a missing required key or a bad value is a :class:`ConfigError`
    naming the section and the key."""
    s = cfg.section
    if key not in s or s[key] is None:
        if default is _REQUIRED:
            raise ConfigError(cfg.path, f"{cfg.role}: missing {key!r}")
        return default
    try:
        return convert(s[key])
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(cfg.path, f"{cfg.role}: {key}: {exc}") from None


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _names(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of interface names, got {value!r}")
    return list(value)


def _addresses(value: Any) -> tuple[bytes, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of IPv6 addresses, got {value!r}")
    return tuple(ip6(v) for v in value)


def _hex20(value: Any) -> bytes:
    raw = bytes.fromhex(str(value))
    if len(raw) != 20:
        raise ValueError(f"must be 20 octets (40 hex digits), got {len(raw)}")
    return raw


HA_KEYS = {"address", "home_iface", "listen", "prefix_length", "home_prefixes", "prefix_valid_lifetime",
           "prefix_preferred_lifetime", "extra_addresses", "max_bindings", "max_binding_lifetime", "dad",
           "dad_transmits", "dad_retrans_timer", "delete_bce_timeout", "unsolicited_na_count",
           "unsolicited_na_interval", "proxy_nd", "proxy_na_override", "refresh_advice", "link_local"}


def ha_interfaces(cfg: DaemonConfig) -> list[str]:
    """The interfaces an HA daemon opens: ``home_iface`` first, then ``listen`` (default: the home link only)."""
    home = _value(cfg, "home_iface", str)
    return list(dict.fromkeys([home, *_value(cfg, "listen", _names, [])]))


def ha_config(cfg: DaemonConfig, macs: dict[str, bytes]) -> HaConfig:
    """The home agent core configuration (keys: the :class:`HaConfig` fields, see ``HA_KEYS``; ``link_address``
    is read from ``home_iface``); ``macs``: link-layer address per interface."""
    _check_keys(cfg.path, "ha", cfg.section, HA_KEYS)
    dad = cfg.section.get("dad", "on")
    dad = {True: "on", False: "off"}.get(dad, dad)  # YAML 1.1 reads a bare on/off as a boolean
    if dad not in ("on", "off"):
        raise ConfigError(cfg.path, f"ha: dad: must be 'on' or 'off', got {dad!r}")
    home_iface = _value(cfg, "home_iface", str)
    if home_iface not in macs:
        raise ConfigError(cfg.path, f"ha: home_iface: no link-layer address known for {home_iface!r}")
    refresh = _value(cfg, "refresh_advice", int, None)
    link_local = _value(cfg, "link_local", ip6, None)
    try:
        return HaConfig(
            address=_value(cfg, "address", ip6), home_iface=home_iface, link_address=macs[home_iface],
            prefix_length=_value(cfg, "prefix_length", int, 64),
            home_prefixes=_value(cfg, "home_prefixes", lambda v: tuple(ip6_prefix(p) for p in v), ()),
            prefix_valid_lifetime=_value(cfg, "prefix_valid_lifetime", int, HOME_INFINITE),
            prefix_preferred_lifetime=_value(cfg, "prefix_preferred_lifetime", int, HOME_INFINITE),
            extra_addresses=_value(cfg, "extra_addresses", _addresses, ()),
            max_bindings=_value(cfg, "max_bindings", int, 1024),
            max_binding_lifetime=_value(cfg, "max_binding_lifetime", int, 0xFFFF * 4),
            dad=dad, dad_transmits=_value(cfg, "dad_transmits", int, 1),
            dad_retrans_timer=_value(cfg, "dad_retrans_timer", float, 1.0),
            delete_bce_timeout=_value(cfg, "delete_bce_timeout", float, 10.0),
            unsolicited_na_count=_value(cfg, "unsolicited_na_count", int, 1),
            unsolicited_na_interval=_value(cfg, "unsolicited_na_interval", float, 1.0),
            proxy_nd=_value(cfg, "proxy_nd", _bool, True),
            proxy_na_override=_value(cfg, "proxy_na_override", _bool, False),
            refresh_advice=refresh, link_local=link_local,
        )
    except ConfigError:
        raise  # already names the key
    except (ValueError, TypeError) as exc:  # the core's own checks (they name the field)
        raise ConfigError(cfg.path, f"ha: {exc}") from None


CN_KEYS = {"address", "extra_addresses", "listen", "node_key", "nonce_length", "nonce_interval",
           "max_nonce_lifetime", "regenerate_node_key", "max_binding_lifetime", "max_bindings",
           "binding_error_interval", "hop_limit", "tun_device", "tun_mtu"}
CN_TUN_DEVICE = "hmip6cn0"
CN_TUN_MTU = 1476  # a 1500-octet link minus the 24-octet type 2 routing header route-optimised packets get


@dataclasses.dataclass(frozen=True)
class CnDaemonSettings:
    """What the CN daemon needs besides the core: its interfaces and its TUN device."""

    listen: list[str]
    tun_device: str
    tun_mtu: int


def cn_config(cfg: DaemonConfig) -> tuple[CnConfig, CnDaemonSettings]:
    """The correspondent node core configuration (keys: the :class:`CnConfig` fields; ``node_key`` as 40 hex
    digits) and the daemon's own settings (``listen``: interfaces, required; ``tun_device``, ``tun_mtu``)."""
    _check_keys(cfg.path, "cn", cfg.section, CN_KEYS)
    listen = _value(cfg, "listen", _names)
    if not listen:
        raise ConfigError(cfg.path, "cn: listen: needs at least one interface")
    tun_device = _value(cfg, "tun_device", str, CN_TUN_DEVICE)
    if not 0 < len(tun_device) < 16:
        raise ConfigError(cfg.path, f"cn: tun_device: an interface name has 1..15 characters, got {tun_device!r}")
    tun_mtu = _value(cfg, "tun_mtu", int, CN_TUN_MTU)
    if not 1280 <= tun_mtu <= 65535:
        raise ConfigError(cfg.path, f"cn: tun_mtu: must be 1280..65535 (IPv6 minimum MTU), got {tun_mtu}")
    try:
        core = CnConfig(
            address=_value(cfg, "address", ip6), extra_addresses=_value(cfg, "extra_addresses", _addresses, ()),
            node_key=_value(cfg, "node_key", _hex20, None), nonce_length=_value(cfg, "nonce_length", int, 8),
            nonce_interval=_value(cfg, "nonce_interval", float, 30.0),
            max_nonce_lifetime=_value(cfg, "max_nonce_lifetime", float, MAX_NONCE_LIFETIME),
            regenerate_node_key=_value(cfg, "regenerate_node_key", _bool, True),
            max_binding_lifetime=_value(cfg, "max_binding_lifetime", int, MAX_RR_BINDING_LIFETIME),
            max_bindings=_value(cfg, "max_bindings", int, 1024),
            binding_error_interval=_value(cfg, "binding_error_interval", float, 1.0),
            hop_limit=_value(cfg, "hop_limit", int, 64),
        )
    except ConfigError:
        raise  # already names the key
    except (ValueError, TypeError) as exc:  # the core's own checks (they name the field)
        raise ConfigError(cfg.path, f"cn: {exc}") from None
    return core, CnDaemonSettings(listen, tun_device, tun_mtu)
