"""Load and validate a testbed file.

Every problem is reported as one :class:`~harness.errors.TestbedFileError` that names the
file, the line and the problem (``testbeds/lab.yaml:14: node 'map1': unknown key 'rol'
(did you mean 'role'?)``).  Credentials may be written as ``{env: VARIABLE}``; they are held
as :class:`~harness.testbed.model.Secret` and never printed.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.errors import TestbedFileError
from harness.testbed.model import (
    AP_DRIVERS, BACKENDS, MANAGEMENT_TYPES, POWER_TYPES, ROLES, STATION_DRIVERS, VIRTUAL_BACKENDS, AccessPointSpec,
    Interface, Link, Management, Node, PowerSpec, Route, Secret, StationSpec, Testbed,
)
from harness.testbed import security
from harness.testbed.security import SaPairSpec, SaSpec, SecuritySpec
from harness.timers import TimerProfile

TOP_KEYS = {"name", "description", "backend", "dut", "dut_profile", "pics", "timers", "nodes", "links", "security"}
NODE_KEYS = {"role", "management", "routes", "services", "maps", "daemon_options", "command", "autostart",
             "ap", "station", "power"}
AP_KEYS = {"ssid", "channel", "bssid", "interface", "driver", "ctrl_dir", "radio", "passphrase"}
STATION_KEYS = {"driver", "interface", "ctrl_dir", "log", "ssid"}
POWER_KEYS = {"type", "on", "off", "cycle", "status", "outlet"}
CHANNELS = tuple(range(1, 15)) + (36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136,
                                  140, 144, 149, 153, 157, 161, 165)
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MGMT_KEYS = {
    "ssh": {"type", "host", "port", "user", "password", "key_file", "known_hosts"},
    "serial": {"type", "device", "baudrate", "user", "password"},
    "local": {"type", "netns"},
}
LINK_KEYS = {"prefix", "access", "members"}
MEMBER_KEYS = {"iface", "address", "advertise"}
TIMER_KEYS = {"profile", "factor", "overrides"}
SERVICES = ("radvd", "hmipv6-map", "hmipv6-ar", "hmipv6-mn", "hmipv6-ha", "hmipv6-cn")
DAEMONS = SERVICES[1:]  # the HMIPv6 daemon of a node: at most one
IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")


class _Map(dict):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


def _synthetic(values: dict[str, Any], line: int | None) -> _Map:
    """A mapping the file did not spell out (a default or a shorthand), placed at ``line``."""
    m = _Map(values)
    m.line = line or 0
    m.key_lines = {k: m.line for k in values}
    return m


class _List(list):
    line: int = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _plain(value: Any) -> Any:
    """``value`` with the line-tracking containers turned back into dicts and lists (for re-serialising)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, bool):
            raise TestbedFileError(loader.name, line, f"key {key!r} is not a string: YAML reads a bare on/off/yes/no "
                                                      "as a boolean; quote it ('on':)")
        if not isinstance(key, str):
            raise TestbedFileError(loader.name, line, f"key {key!r} is not a string")
        if key in result:
            raise TestbedFileError(loader.name, line, f"duplicate key {key!r} (first at line {result.key_lines[key]})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _List:
    result = _List(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _Ctx:
    """Error reporting for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int | None, problem: str) -> TestbedFileError:
        return TestbedFileError(str(self.path), line, problem)

    def line_of(self, mapping: Any, key: str | None = None) -> int | None:
        if isinstance(mapping, _Map):
            return mapping.key_lines.get(key, mapping.line) if key else mapping.line
        return getattr(mapping, "line", None)

    def mapping(self, value: Any, what: str, line: int | None) -> _Map:
        if not isinstance(value, _Map):
            raise self.fail(line, f"{what} must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, mapping: _Map, allowed: set[str], what: str, required: tuple[str, ...] = ()) -> None:
        for key in mapping:
            if key not in allowed:
                hint = difflib.get_close_matches(key, sorted(allowed), n=1)
                tip = f" (did you mean {hint[0]!r}?)" if hint else f" (expected one of: {', '.join(sorted(allowed))})"
                raise self.fail(mapping.key_lines[key], f"{what}: unknown key {key!r}{tip}")
        for key in required:
            if key not in mapping:
                raise self.fail(mapping.line, f"{what}: missing required key {key!r}")

    def choice(self, value: Any, choices: tuple[str, ...], what: str, line: int | None) -> str:
        if value not in choices:
            raise self.fail(line, f"{what}: {value!r} is not one of {', '.join(choices)}")
        return value


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Testbed:
    """Read, validate and return the testbed in ``path``."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    ctx = _Ctx(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TestbedFileError(str(path), None, f"cannot read testbed file: {exc.strerror or exc}") from None
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ctx.fail(mark.line + 1 if mark else None, f"YAML syntax error: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    top = ctx.mapping(doc, "testbed file", 1)
    ctx.keys(top, TOP_KEYS, "testbed", required=("name", "backend", "nodes", "links"))
    backend = ctx.choice(top["backend"], BACKENDS, "backend", ctx.line_of(top, "backend"))

    nodes_map = ctx.mapping(top["nodes"], "nodes", ctx.line_of(top, "nodes"))
    nodes = {name: _node(ctx, name, spec, backend, environ) for name, spec in nodes_map.items()}
    links_map = ctx.mapping(top["links"], "links", ctx.line_of(top, "links"))
    links = {name: _link(ctx, name, spec, nodes, backend) for name, spec in links_map.items()}
    for name, spec in nodes_map.items():
        nodes[name].routes = _routes(ctx, name, spec.get("routes", _List()) if isinstance(spec, _Map) else [])

    for node in nodes.values():
        _check_maps(ctx, node, nodes, links, ctx.line_of(nodes_map[node.name], "maps"))
    dut = top.get("dut")
    if dut is not None and dut not in nodes:
        raise ctx.fail(ctx.line_of(top, "dut"), f"dut: unknown node {dut!r} (nodes: {', '.join(nodes)})")
    pics = top.get("pics") or _synthetic({}, ctx.line_of(top, "pics"))
    ctx.mapping(pics, "pics", ctx.line_of(top, "pics"))
    _check_pics(ctx, pics)
    timers = _timers(ctx, top.get("timers", "rfc"), ctx.line_of(top, "timers"))
    if backend in VIRTUAL_BACKENDS:
        _check_netns_names(ctx, nodes)
    _check_wifi(ctx, nodes, links, nodes_map)
    profile = str(top.get("dut_profile", "reference"))
    spec = Testbed(
        name=str(top["name"]), path=path, backend=backend, nodes=nodes, links=links,
        dut=dut, pics=dict(pics), dut_profile=profile, timers=timers, description=str(top.get("description", "")),
    )
    if "security" in top:
        spec.security = _security(ctx, top["security"], ctx.line_of(top, "security"), spec, environ)
    return spec


def _security(ctx: _Ctx, raw: Any, line: int | None, spec: Testbed, environ: Mapping[str, str]) -> SecuritySpec:
    """The ``security:`` section (harness.testbed.security): generated SA pairs, or the file's own ``sas``."""
    raw = ctx.mapping(raw, "security", line)
    ctx.keys(raw, security.SECURITY_KEYS, "security", required=("ipsec",))
    ipsec = ctx.choice(raw["ipsec"], security.IPSEC_MODES, "security: ipsec", ctx.line_of(raw, "ipsec"))
    if ipsec == "off":
        return SecuritySpec()
    auth = raw.get("auth", "hmac-sha256-128")
    if auth in (None, "null", "none"):
        raise ctx.fail(ctx.line_of(raw, "auth"), "security: auth: base §12.1 \"When ESP is used, a non-null "
                                                  "authentication algorithm MUST be used.\"")
    auth = ctx.choice(auth, tuple(security.AUTH), "security: auth", ctx.line_of(raw, "auth"))
    encryption = ctx.choice(raw.get("encryption", "aes-cbc" if ipsec == "esp" else "null"),
                            tuple(security.ENCRYPTION), "security: encryption", ctx.line_of(raw, "encryption"))
    if ipsec == "ah" and encryption != "null":
        raise ctx.fail(ctx.line_of(raw, "encryption"), "security: AH has no encryption (RFC 4302)")
    if "sas" in raw:
        return SecuritySpec(ipsec, tuple(_sa_pair(ctx, p, i, raw["sas"], spec, environ)
                                         for i, p in enumerate(raw["sas"])))
    if "key_seed" not in raw:
        raise ctx.fail(line, "security: give 'key_seed' (keys derived for every MN-MAP pair) or 'sas' "
                             "(the pairs, as the DUT is configured)")
    seed = _secret(ctx, raw["key_seed"], "security: key_seed", ctx.line_of(raw, "key_seed"), environ)
    mns = [n.name for n in spec.nodes.values() if n.role == "mn"]
    maps = {n.name: spec.map_address(n.name) for n in spec.nodes.values()
            if n.role == "map" and any(n.name in o.maps for o in spec.nodes.values())}
    return SecuritySpec(ipsec, security.generate(ipsec, auth, encryption, seed, mns, maps))


SA_PAIR_KEYS = {"name", "map", "rcoa", "mn", "map_node", "to_map", "to_mn"}
SA_KEYS = {"spi", "protocol", "auth", "auth_key", "encryption", "enc_key"}


def _sa_pair(ctx: _Ctx, raw: Any, i: int, sas: Any, spec: Testbed, environ: Mapping[str, str]) -> SaPairSpec:
    what = f"security: sas[{i}]"
    raw = ctx.mapping(raw, what, getattr(sas, "line", None))
    ctx.keys(raw, SA_PAIR_KEYS, what, required=("name", "to_map", "to_mn"))
    for key in ("mn", "map_node"):
        if raw.get(key) is not None and raw[key] not in spec.nodes:
            raise ctx.fail(ctx.line_of(raw, key), f"{what}: {key}: unknown node {raw[key]!r}")
    try:
        selectors = {k: ipaddress.IPv6Network(str(raw.get(k, "::/0")), strict=False) for k in ("map", "rcoa")}
    except ValueError as exc:
        raise ctx.fail(raw.line, f"{what}: {exc}") from None
    sas_ = {}
    for direction in ("to_map", "to_mn"):
        sa = ctx.mapping(raw[direction], f"{what}.{direction}", ctx.line_of(raw, direction))
        where = f"{what}.{direction}"
        ctx.keys(sa, SA_KEYS, where, required=("spi", "protocol", "auth", "auth_key"))
        protocol = ctx.choice(sa["protocol"], ("esp", "ah"), f"{where}: protocol", ctx.line_of(sa, "protocol"))
        if sa["auth"] in (None, "null", "none"):
            raise ctx.fail(ctx.line_of(sa, "auth"), f"{where}: auth: base §12.1 \"When ESP is used, a non-null "
                                                     "authentication algorithm MUST be used.\"")
        auth = ctx.choice(sa["auth"], tuple(security.AUTH), f"{where}: auth", ctx.line_of(sa, "auth"))
        spi = sa["spi"]
        if isinstance(spi, str):
            try:
                spi = int(spi, 0)
            except ValueError:
                raise ctx.fail(ctx.line_of(sa, "spi"), f"{where}: spi {spi!r} is not a number") from None
        spi = _int(ctx, spi, f"{where}: spi", ctx.line_of(sa, "spi"), 256, 2**32 - 1)
        sas_[direction] = SaSpec(
            spi, protocol, auth, _secret(ctx, sa["auth_key"], f"{where}: auth_key", ctx.line_of(sa, "auth_key"), environ),
            ctx.choice(sa.get("encryption", "null"), tuple(security.ENCRYPTION), f"{where}: encryption",
                       ctx.line_of(sa, "encryption")),
            _secret(ctx, sa["enc_key"], f"{where}: enc_key", ctx.line_of(sa, "enc_key"), environ)
            if "enc_key" in sa else None)
    return SaPairSpec(str(raw["name"]), selectors["map"], selectors["rcoa"], sas_["to_map"], sas_["to_mn"],
                      raw.get("mn"), raw.get("map_node"))


def _node(ctx: _Ctx, name: str, spec: Any, backend: str, environ: Mapping[str, str]) -> Node:
    spec = ctx.mapping(spec, f"node {name!r}", None)
    what = f"node {name!r}"
    ctx.keys(spec, NODE_KEYS, what, required=("role",))
    role = ctx.choice(spec["role"], ROLES, f"{what}: role", ctx.line_of(spec, "role"))
    default_type = {"tester": "local", "switch": "local", "mn": "serial"}.get(role, "ssh")
    mgmt_spec = spec.get("management", _synthetic({"type": default_type}, spec.line) if backend in VIRTUAL_BACKENDS else None)
    if mgmt_spec is None:
        raise ctx.fail(spec.line, f"{what}: missing required key 'management' (a lab node needs ssh, serial or local access)")
    if isinstance(mgmt_spec, str):  # shorthand "management: ssh"
        mgmt_spec = _synthetic({"type": mgmt_spec}, ctx.line_of(spec, "management"))
    mgmt = _management(ctx, what, ctx.mapping(mgmt_spec, f"{what}: management", ctx.line_of(spec, "management")),
                       backend, environ)
    services = spec.get("services", [])
    if not isinstance(services, list):
        raise ctx.fail(ctx.line_of(spec, "services"), f"{what}: services must be a list")
    for svc in services:
        ctx.choice(svc, SERVICES, f"{what}: service", ctx.line_of(spec, "services"))
    maps = spec.get("maps", [])
    if not isinstance(maps, list) or not all(isinstance(m, str) for m in maps):
        raise ctx.fail(ctx.line_of(spec, "maps"), f"{what}: maps must be a list of MAP node names")
    options = spec.get("daemon_options", {})
    if not isinstance(options, dict):
        raise ctx.fail(ctx.line_of(spec, "daemon_options"), f"{what}: daemon_options must be a mapping")
    command = spec.get("command")
    if command is not None and not (isinstance(command, str) and command.strip()):
        raise ctx.fail(ctx.line_of(spec, "command"), f"{what}: command must be a non-empty string")
    daemons = [s for s in services if s in DAEMONS]
    if len(daemons) > 1:
        raise ctx.fail(ctx.line_of(spec, "services"), f"{what}: at most one HMIPv6 daemon per node, got {', '.join(daemons)}")
    if command is not None and not daemons:
        raise ctx.fail(ctx.line_of(spec, "command"), f"{what}: command replaces the node's HMIPv6 daemon, "
                                                     f"so services must name one of {', '.join(DAEMONS)}")
    autostart = spec.get("autostart", True)
    if not isinstance(autostart, bool):
        raise ctx.fail(ctx.line_of(spec, "autostart"), f"{what}: autostart must be true or false")
    ap = station = power = None
    if "ap" in spec:
        if role != "ap":
            raise ctx.fail(ctx.line_of(spec, "ap"), f"{what}: 'ap' settings belong to a node with role ap, not {role}")
        ap = _ap(ctx, what, ctx.mapping(spec["ap"], f"{what}: ap", ctx.line_of(spec, "ap")), environ)
    elif role == "ap":
        raise ctx.fail(spec.line, f"{what}: a node with role ap needs 'ap' settings (ssid, channel)")
    if "station" in spec:
        if role != "mn":
            raise ctx.fail(ctx.line_of(spec, "station"), f"{what}: 'station' settings belong to a mobile node (role mn)")
        station = _station(ctx, what, ctx.mapping(spec["station"], f"{what}: station", ctx.line_of(spec, "station")))
    if "power" in spec:
        power = _power(ctx, what, ctx.mapping(spec["power"], f"{what}: power", ctx.line_of(spec, "power")))
    return Node(name=name, role=role, management=mgmt, services=list(services), maps=list(maps),
                daemon_options=_plain(options), command=command, autostart=autostart, ap=ap, station=station,
                power=power, line=spec.line)


def _text(ctx: _Ctx, spec: _Map, key: str, what: str, default: str | None = None) -> str | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise ctx.fail(ctx.line_of(spec, key), f"{what}: {key} must be a non-empty string")
    return str(value)


def _ap(ctx: _Ctx, what: str, spec: _Map, environ: Mapping[str, str]) -> AccessPointSpec:
    what = f"{what}: ap"
    ctx.keys(spec, AP_KEYS, what, required=("ssid", "channel"))
    ssid = _text(ctx, spec, "ssid", what)
    if len(ssid.encode()) > 32:
        raise ctx.fail(ctx.line_of(spec, "ssid"), f"{what}: ssid {ssid!r} is longer than 32 octets")
    channel = spec["channel"]
    if channel not in CHANNELS:
        raise ctx.fail(ctx.line_of(spec, "channel"), f"{what}: channel {channel!r} is not a 2.4 or 5 GHz Wi-Fi channel")
    bssid = _text(ctx, spec, "bssid", what)
    if bssid is not None:
        bssid = bssid.lower()
        if not MAC.match(bssid):
            raise ctx.fail(ctx.line_of(spec, "bssid"), f"{what}: bssid {bssid!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    driver = ctx.choice(spec.get("driver", "hostapd"), AP_DRIVERS, f"{what}: driver", ctx.line_of(spec, "driver"))
    passphrase = None
    if "passphrase" in spec:
        passphrase = _secret(ctx, spec["passphrase"], f"{what}: passphrase", ctx.line_of(spec, "passphrase"), environ)
        if not 8 <= len(passphrase.reveal()) <= 63:
            raise ctx.fail(ctx.line_of(spec, "passphrase"), f"{what}: a WPA2 passphrase has 8 to 63 characters")
    return AccessPointSpec(ssid=ssid, channel=channel, bssid=bssid, interface=_text(ctx, spec, "interface", what, "wlan0"),
                           driver=driver, ctrl_dir=_text(ctx, spec, "ctrl_dir", what),
                           radio=_text(ctx, spec, "radio", what), passphrase=passphrase)


def _station(ctx: _Ctx, what: str, spec: _Map) -> StationSpec:
    what = f"{what}: station"
    ctx.keys(spec, STATION_KEYS, what)
    driver = ctx.choice(spec.get("driver", "wpa_cli"), STATION_DRIVERS, f"{what}: driver", ctx.line_of(spec, "driver"))
    return StationSpec(driver=driver, interface=_text(ctx, spec, "interface", what, "wlan0"),
                       ctrl_dir=_text(ctx, spec, "ctrl_dir", what), log=_text(ctx, spec, "log", what),
                       ssid=_text(ctx, spec, "ssid", what))


def _power(ctx: _Ctx, what: str, spec: _Map) -> PowerSpec:
    what = f"{what}: power"
    ctx.keys(spec, POWER_KEYS, what, required=("type",))
    ptype = ctx.choice(spec["type"], POWER_TYPES, f"{what}: type", ctx.line_of(spec, "type"))
    power = PowerSpec(type=ptype, **{k: _text(ctx, spec, k, what) for k in ("on", "off", "cycle", "status", "outlet")})
    if ptype == "command" and not (power.on and power.off):
        raise ctx.fail(spec.line, f"{what}: type command needs 'on' and 'off' command templates")
    return power


def _management(ctx: _Ctx, what: str, spec: _Map, backend: str, environ: Mapping[str, str]) -> Management:
    mtype = ctx.choice(spec.get("type"), MANAGEMENT_TYPES, f"{what}: management type", ctx.line_of(spec, "type"))
    ctx.keys(spec, MGMT_KEYS[mtype], f"{what}: {mtype} management")
    mgmt = Management(type=mtype)
    mgmt.user = spec.get("user")
    if "password" in spec:
        mgmt.password = _secret(ctx, spec["password"], f"{what}: password", ctx.line_of(spec, "password"), environ)
    if "port" in spec:
        mgmt.port = _int(ctx, spec["port"], f"{what}: port", ctx.line_of(spec, "port"), 1, 65535)
    if "baudrate" in spec:
        mgmt.baudrate = _int(ctx, spec["baudrate"], f"{what}: baudrate", ctx.line_of(spec, "baudrate"), 50, 4_000_000)
    for key in ("key_file", "known_hosts"):
        if key in spec:
            file = (ctx.path.parent / os.path.expandvars(str(spec[key]))).resolve()
            try:
                with open(file, "rb"):
                    pass
            except OSError as exc:
                raise ctx.fail(ctx.line_of(spec, key), f"{what}: {key} {str(file)!r} is not readable: {exc.strerror}") from None
            setattr(mgmt, key, file)
    mgmt.host = spec.get("host")
    mgmt.device = spec.get("device")
    mgmt.netns = spec.get("netns")
    if backend == "lab":
        if mtype == "ssh":
            if not mgmt.host:
                raise ctx.fail(spec.line, f"{what}: ssh management needs 'host'")
            if mgmt.password is None and mgmt.key_file is None:
                raise ctx.fail(spec.line, f"{what}: ssh management needs a credential: 'password' or 'key_file'")
            if mgmt.known_hosts is None:
                raise ctx.fail(spec.line, f"{what}: ssh management needs 'known_hosts' (the pinned host key; "
                                          "host keys are always checked)")
        if mtype == "serial" and not mgmt.device:
            raise ctx.fail(spec.line, f"{what}: serial management needs 'device'")
    mgmt.user = mgmt.user or "root"
    return mgmt


def _secret(ctx: _Ctx, value: Any, what: str, line: int | None, environ: Mapping[str, str]) -> Secret:
    if isinstance(value, str):
        return Secret(value, "testbed file")
    if isinstance(value, _Map) and set(value) <= {"env", "default"} and "env" in value:
        var = str(value["env"])
        if var in environ:
            return Secret(environ[var], f"env {var}")
        if "default" in value:
            return Secret(str(value["default"]), "testbed file default")
        raise ctx.fail(line, f"{what}: environment variable {var} is not set")
    raise ctx.fail(line, f"{what}: expected a string or {{env: VARIABLE}}")


def _int(ctx: _Ctx, value: Any, what: str, line: int | None, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ctx.fail(line, f"{what}: expected an integer in [{low}, {high}], got {value!r}")
    return value


def _link(ctx: _Ctx, name: str, spec: Any, nodes: dict[str, Node], backend: str) -> Link:
    what = f"link {name!r}"
    spec = ctx.mapping(spec, what, None)
    ctx.keys(spec, LINK_KEYS, what, required=("members",))
    prefix = None
    if "prefix" in spec:
        try:
            prefix = ipaddress.IPv6Network(str(spec["prefix"]))
        except ValueError as exc:
            raise ctx.fail(ctx.line_of(spec, "prefix"), f"{what}: bad IPv6 prefix {spec['prefix']!r}: {exc}") from None
    members = ctx.mapping(spec["members"], f"{what}: members", ctx.line_of(spec, "members"))
    link = Link(name=name, prefix=prefix, members={}, access=bool(spec.get("access", False)), line=spec.line)
    for node_name, member in members.items():
        line = members.key_lines[node_name]
        if node_name not in nodes:
            raise ctx.fail(line, f"{what}: member {node_name!r} is not a node (nodes: {', '.join(nodes)})")
        if isinstance(member, str):
            member = _synthetic({"iface": member}, line)
        member = ctx.mapping(member, f"{what}: member {node_name!r}", line)
        ctx.keys(member, MEMBER_KEYS, f"{what}: member {node_name!r}", required=("iface",))
        ifname = str(member["iface"])
        if backend in VIRTUAL_BACKENDS and not IFNAME.match(ifname):
            raise ctx.fail(line, f"{what}: interface name {ifname!r} is not a valid Linux interface name (max 15 characters)")
        if not ifname or any(c.isspace() for c in ifname):
            raise ctx.fail(line, f"{what}: interface name {ifname!r} is empty or contains white space")
        node = nodes[node_name]
        if ifname in node.interfaces:
            raise ctx.fail(line, f"{what}: node {node_name!r} already uses interface {ifname!r} on link "
                                 f"{node.interfaces[ifname].link!r}")
        address = None
        if "address" in member:
            address = _address(ctx, member["address"], prefix, f"{what}: member {node_name!r}", line)
        iface = Interface(node=node_name, name=ifname, link=name, address=address,
                          advertise=bool(member.get("advertise", False)))
        if iface.advertise and prefix is None:
            raise ctx.fail(line, f"{what}: member {node_name!r} advertises but the link has no prefix")
        node.interfaces[ifname] = iface
        link.members[node_name] = iface
    return link


def _address(ctx: _Ctx, value: Any, prefix: ipaddress.IPv6Network | None, what: str, line: int) -> ipaddress.IPv6Interface:
    text = str(value)
    try:
        if text.startswith("::") and prefix is not None:  # interface identifier within the link prefix
            addr = prefix.network_address + int(ipaddress.IPv6Address(text))
            return ipaddress.IPv6Interface(f"{addr}/{prefix.prefixlen}")
        iface = ipaddress.IPv6Interface(text if "/" in text else f"{text}/{prefix.prefixlen if prefix else 128}")
    except ValueError as exc:
        raise ctx.fail(line, f"{what}: bad IPv6 address {text!r}: {exc}") from None
    if prefix is not None and iface.ip not in prefix:
        raise ctx.fail(line, f"{what}: address {iface.ip} is not in the link prefix {prefix}")
    return iface


def _routes(ctx: _Ctx, node: str, spec: Any) -> list[Route]:
    if not isinstance(spec, list):
        raise ctx.fail(getattr(spec, "line", None), f"node {node!r}: routes must be a list of 'PREFIX via ADDRESS'")
    routes = []
    for item in spec:
        parts = str(item).split()
        line = getattr(spec, "line", None)
        if len(parts) != 3 or parts[1] != "via":
            raise ctx.fail(line, f"node {node!r}: route {item!r} is not of the form 'PREFIX via ADDRESS'")
        try:
            dst = ipaddress.IPv6Network("::/0" if parts[0] == "default" else parts[0])
            via = ipaddress.IPv6Address(parts[2])
        except ValueError as exc:
            raise ctx.fail(line, f"node {node!r}: route {item!r}: {exc}") from None
        routes.append(Route(dst, via))
    return routes


def _timers(ctx: _Ctx, spec: Any, line: int | None) -> TimerProfile:
    if isinstance(spec, str):
        spec = {"profile": spec}
    elif isinstance(spec, _Map):
        ctx.keys(spec, TIMER_KEYS, "timers", required=("profile",))
    else:
        raise ctx.fail(line, "timers must be 'rfc', 'scaled' or a mapping with 'profile'")
    try:
        return TimerProfile.make(spec["profile"], spec.get("factor"), spec.get("overrides"))
    except (ValueError, TypeError) as exc:
        raise ctx.fail(line, f"timers: {exc}") from None


def _check_pics(ctx: _Ctx, pics: _Map) -> None:
    """PICS keys must be known items of conformance/pics.yaml; values true/false or a parameter mapping."""
    from conformance import pics as registry

    items = registry.registry()
    for key, value in pics.items():
        line = pics.key_lines.get(key, pics.line)
        if key not in items:
            hint = difflib.get_close_matches(key, sorted(items), n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(sorted(items))})"
            raise ctx.fail(line, f"pics: unknown item {key!r}{tip}")
        if isinstance(value, dict):
            extra = set(value) - set(items[key].parameters)
            if extra:
                raise ctx.fail(line, f"pics: {key}: unknown parameters {', '.join(sorted(extra))} "
                                     f"(known: {', '.join(items[key].parameters) or 'none'})")
        elif not isinstance(value, bool):
            raise ctx.fail(line, f"pics: {key} must be true, false or a mapping of parameters, got {value!r}")


def _check_maps(ctx: _Ctx, node: Node, nodes: dict[str, Node], links: dict[str, Link], line: int | None) -> None:
    """Each MAP an access router advertises must be a MAP node sharing a link with it."""
    for name in node.maps:
        if name not in nodes or nodes[name].role != "map":
            raise ctx.fail(line, f"node {node.name!r}: maps: {name!r} is not a node with role map")
        if not any(node.name in link.members and name in link.members for link in links.values()):
            raise ctx.fail(line, f"node {node.name!r}: maps: {name!r} shares no link with {node.name!r}")


def _check_wifi(ctx: _Ctx, nodes: dict[str, Node], links: dict[str, Link], nodes_map: _Map) -> None:
    """An AP is a member of exactly one access link; a station's interface is its mobile node's access interface;
    two APs on one link, or two APs sharing a BSSID, are refused."""
    seen_links: dict[str, str] = {}
    seen_bssids: dict[str, str] = {}
    for node in nodes.values():
        line = ctx.line_of(nodes_map[node.name])
        if node.ap is not None:
            on = [i.link for i in node.interfaces.values()]
            if len(on) != 1 or not links[on[0]].access:
                raise ctx.fail(line, f"node {node.name!r}: an access point must be a member of exactly one access link "
                                     f"(the one its radio serves), got {', '.join(on) or 'none'}")
            if on[0] in seen_links:
                raise ctx.fail(line, f"node {node.name!r}: link {on[0]!r} already has access point {seen_links[on[0]]!r}")
            seen_links[on[0]] = node.name
            if node.ap.bssid and node.ap.bssid in seen_bssids:
                raise ctx.fail(line, f"node {node.name!r}: bssid {node.ap.bssid} is also {seen_bssids[node.ap.bssid]!r}'s")
            if node.ap.bssid:
                seen_bssids[node.ap.bssid] = node.name
        if node.station is not None:
            access = [i for i in node.interfaces.values() if links[i.link].access]
            if access and all(i.name != node.station.interface for i in access):
                raise ctx.fail(line, f"node {node.name!r}: station interface {node.station.interface!r} is not its "
                                     f"access-link interface ({', '.join(i.name for i in access)})")


def _check_netns_names(ctx: _Ctx, nodes: dict[str, Node]) -> None:
    for node in nodes.values():
        if not NODE_NAME.match(node.name):
            raise ctx.fail(node.line, f"node {node.name!r}: on the netns backend node names must be 1-10 "
                                      "lowercase letters/digits, starting with a letter")
