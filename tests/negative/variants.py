"""Deliberately broken reference cores: each variant violates one requirement a test purpose judges.

Only :mod:`run_variant` (test-only) switches them on, through the daemons' ``core_factory`` parameter;
the shipped daemons have no configuration key or flag that reaches these.  ``VARIANTS`` maps a
variant name to (role, test function, expected verdict, requirement the verdict must name, factory).
``TESTBED`` holds what a variant's run changes in the testbed besides the DUT's command: the PICS the DUT
must claim for the test purpose to apply, and options for the DUT's daemon configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

from reference_impl.actions import BindingUpdated, MapStateChanged, Send
from reference_impl.ar.core import ArCore
from reference_impl.map import core as map_core_module
from reference_impl.map.core import MapCore
from seams import Careless, PatchFirst, lenient_icv, overriding, with_seam


def _map(**overrides: Callable) -> Callable:
    """A MapCore subclass with the given methods replaced (each gets ``self`` and the original)."""
    return overriding(MapCore, **overrides)


def _map_config(**changes) -> Callable:
    return lambda config, edition: MapCore(dataclasses.replace(config, **changes), edition)


def _ack_patch(patch: Callable) -> Callable:
    """Patch the BA packets the MAP sends (``patch(packet, status) -> packet`` or None to send nothing), before
    IPsec protects them."""
    def _ack(self, original, req, status, units, **kw):
        real = self.security
        self.security = seam = PatchFirst(real, lambda packet: patch(packet, status))
        try:
            actions = original(self, req, status, units, **kw)
        finally:
            self.security = real
        return [a for a in actions if not (isinstance(a, Send) and seam.dropped)]
    return _map(_ack=_ack)


def _no_modulo(a: int, b: int) -> bool:
    return a > b


def _patched_seq(fn: Callable[[int, int], bool]) -> Callable:
    def factory(config, edition):
        map_core_module.seq_newer = fn  # this process runs only the variant
        return MapCore(config, edition)
    return factory


def _solicited_unsolicited_na(self, original, rcoa):
    send = original(self, rcoa)
    na = send.packet.payload
    return dataclasses.replace(send, packet=dataclasses.replace(send.packet, payload=dataclasses.replace(na, s=True)))


def _advertised_dist_zero(config, edition):
    """The MAP's own RAs carry its option with Dist 0 (patched where the MAP daemon builds its advertiser)."""
    from reference_impl.daemon import advertiser

    class ZeroDist(ArCore):
        def advertised_map_options(self, iface):
            return tuple(dataclasses.replace(o, dist=0) for o in super().advertised_map_options(iface))

    advertiser.ArCore = ZeroDist  # this process runs only the variant
    return MapCore(config, edition)


def _ar(**overrides: Callable) -> Callable:
    """An ArCore subclass with the given methods replaced (each gets ``self`` and the original)."""
    return overriding(ArCore, **overrides)


def _refresh_without_ba(self, original, now, req, binding):
    """The binding is refreshed, but the BU (A set) is not acknowledged."""
    return [a for a in original(self, now, req, binding) if not isinstance(a, Send)]


def _refresh_keeps_expiry(self, original, now, req, binding):
    """The refresh is acknowledged with the lifetime granted, but the entry still expires at its first deadline."""
    expires = binding.expires
    actions = original(self, now, req, binding)
    binding.expires = expires
    self._timers.set(("expire", req.rcoa), expires)
    return actions


def _never_expires(self, original, now, req, **kw):
    """Bindings are created without an expiry timer: they outlive their granted lifetime."""
    actions = original(self, now, req, **kw)
    self._timers.cancel(("expire", req.rcoa))
    return actions


def _refresh_keeps_lcoa(self, original, now, req, binding):
    """A BU from a new LCoA is acknowledged, but the binding keeps tunnelling to the old one."""
    old = binding.lcoa
    actions = original(self, now, req, binding)
    if binding.lcoa != old:
        binding.lcoa = old
        actions = [a for a in actions if not isinstance(a, BindingUpdated)]
    return actions


def _relayed_not_incremented(self, original, iface):
    """Options learnt from other routers are re-sent with the Dist they arrived with."""
    own = set(self.table.manual) | ({self.table.local.address} if self.table.local is not None else set())
    learnt = {key[0] for key in self.table.learned} - own
    return tuple(dataclasses.replace(o, dist=o.dist - 1) if o.address in learnt else o
                 for o in original(self, iface))


def _unvalidated_ra(packet):
    """``packet`` as if it had passed RFC 4861 §6.1.2's source and hop-limit checks (a variant skipping them)."""
    if packet.hop_limit == 255 and packet.src[:2] == b"\xfe\x80":
        return packet
    return dataclasses.replace(packet, hop_limit=255, src=b"\xfe\x80" + bytes(6) + packet.src[8:])


def _relayed_lifetime_extended(self, original, iface):
    """Options learnt from other routers are re-sent with a valid lifetime of one day, whatever they arrived with."""
    own = set(self.table.manual) | ({self.table.local.address} if self.table.local is not None else set())
    learnt = {key[0] for key in self.table.learned} - own
    return tuple(dataclasses.replace(o, valid_lifetime=86400) if o.address in learnt and o.valid_lifetime else o
                 for o in original(self, iface))


def _relays_invalid_ra(self, original, now, iface, packet, ra):
    """MAP options are learnt from any RA, whatever its source address and hop limit."""
    return original(self, now, iface, _unvalidated_ra(packet), ra)


def _rcoa_prefix_48(config, edition):
    """The MAP takes any RCoA on the /48 of its address (the configuration refuses a non-/64 prefix length, so
    the check itself is replaced)."""
    from reference_impl.wire.addresses import in_prefix

    class Wide(type(config)):
        __slots__ = ()

        def on_map_prefix(self, address: bytes) -> bool:
            return in_prefix(address, self.address, 48)

    return MapCore(Wide(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}), edition)


def _variant_state() -> tuple[Path, dict]:
    """A file beside the daemon's configuration that survives its restarts (set by run_variant.py)."""
    path = Path(os.environ["HMIPV6_VARIANT_STATE"])
    return path, json.loads(path.read_text()) if path.exists() else {}


def _sequence_numbers_survive_restart(config, edition):
    """The MAP saves each accepted sequence number and, after a restart, takes them as tombstones: its binding
    cache is gone, yet a BU with an older sequence number is refused with 135."""
    from reference_impl.map.binding_cache import Tombstone

    class Persisting(MapCore):
        def start(self, now):
            for rcoa, seq in _variant_state()[1].items():
                self.cache.tombstones[bytes.fromhex(rcoa)] = Tombstone(seq, now + 3600)
            return super().start(now)

        def _ack(self, req, status, units, **kw):
            if status < 128:
                path, saved = _variant_state()
                saved[req.rcoa.hex()] = req.message.seq
                path.write_text(json.dumps(saved))
            return super()._ack(req, status, units, **kw)

    return Persisting(config, edition)


def _forwarding_survives_restart(self, original, dst):
    """The first LCoA the RCoA was tunnelled to is kept (on disk, like a kernel route left behind by a crash) and
    keeps being used, whatever the binding says now."""
    lcoa = original(self, dst)
    if lcoa is None:
        return None
    path, saved = _variant_state()
    if dst.hex() not in saved:
        saved[dst.hex()] = lcoa.hex()
        path.write_text(json.dumps(saved))
    return bytes.fromhex(saved[dst.hex()])


def _probe_never_down(self, original, now, address):
    """Echo probing runs, but a MAP that stops answering is never advertised as failed."""
    actions = original(self, now, address)
    self.table.failed.discard(address)
    return [a for a in actions if not isinstance(a, MapStateChanged)]


def _slow_detection(config, edition):
    """Probing gives up only after 4 s of aggressive probes (beyond the declared window and the example)."""
    fd = dataclasses.replace(config.failure_detection, aggressive_duration=4.0)
    return ArCore(dataclasses.replace(config, failure_detection=fd), edition)


def _solicited_ignores_manual_trigger(self, original, now, name):
    """The manual trigger (map-down) reaches only the unsolicited RAs: the RA answering a Router Solicitation still
    advertises the MAP with its configured valid lifetime."""
    if not self._ra[name].solicited_pending or not self.table.forced_down:
        return original(self, now, name)
    forced = set(self.table.forced_down)
    self.table.forced_down.clear()
    try:
        return original(self, now, name)
    finally:
        self.table.forced_down |= forced


def _relayed_last_heard(self, original, iface):
    """A MAP heard on several interfaces is relayed with the Dist of the last RA that carried it, not the smallest."""
    latest: dict[bytes, object] = {}
    for (address, learnt_on, _), entry in self.table.learned.items():
        if learnt_on != iface and (address not in latest or entry.expires >= latest[address].expires):
            latest[address] = entry
    return tuple(dataclasses.replace(o, dist=latest[o.address].option.dist + 1) if o.address in latest else o
                 for o in original(self, iface))


def _relays_without_own_option(config, edition):
    """The MAP's RAs drop its own option as soon as it relays another MAP's (patched where the daemon builds its
    advertiser)."""
    from reference_impl.daemon import advertiser

    class RelayOnly(ArCore):
        def advertised_map_options(self, iface):
            options = super().advertised_map_options(iface)
            relayed = [o for o in options if self.table.local is None or o.address != self.table.local.address]
            return tuple(relayed) if relayed else options

    advertiser.ArCore = RelayOnly  # this process runs only the variant
    return MapCore(config, edition)


def _no_anti_replay(config, edition):
    """Every inbound SA's replay window accepts everything (RFC 4303 §3.4.3 not applied)."""
    from reference_impl.ipsec import ReplayWindow

    ReplayWindow.check = lambda self, seq: None  # this process runs only the variant
    return MapCore(config, edition)


def _no_icv_check(config, edition):
    """ESP and AH ICVs are not checked."""
    lenient_icv()
    return MapCore(config, edition)


def _installs_null_auth(config, edition):
    """``sa-add`` answers ok without checking (or installing) the SA: ESP with null authentication is taken."""
    from reference_impl.daemon import map_main
    map_main.add_sa = lambda core, arg: {"ok": True, "added": "unchecked"}  # this process runs only the variant
    return MapCore(config, edition)


def _no_mh_checksum_check(config, edition):
    """Mobility Header (and ICMPv6) checksums are not verified on receipt (RFC 6275 §9.2 not applied)."""
    from reference_impl.wire import ipv6

    ipv6.verify_upper_layer_checksum = lambda *args: True  # this process runs only the variant
    return MapCore(config, edition)


def _rejecting(when: Callable, status: int = 128) -> Callable:
    """A MAP whose acceptance policy refuses (with ``status``) every BU for which ``when(bu)`` holds."""
    return _map(policy=lambda self, original, req: status if when(req.message) else original(self, req))


VARIANTS: dict[str, tuple[str, str, str, str, Callable]] = {
    # name: (role, test function, expected verdict, requirement named, core factory)
    "map-takes-unprotected-bu": ("map", "test_unprotected_bu_refused", "FAIL", "HMIP-4140-12.1-P6-MUST-1",
                                 with_seam(MapCore, lambda real: Careless(real, plain_in=True))),
    "map-ba-unprotected": ("map", "test_ba_protected", "FAIL", "HMIP-4140-12.1-P6-MUST-1",
                           with_seam(MapCore, lambda real: Careless(real, plain_out=True))),
    "map-no-icv-check": ("map", "test_bad_icv_refused", "FAIL", "HMIP-4140-12-P1-MUST-1", _no_icv_check),
    "map-no-anti-replay": ("map", "test_replayed_bu_dropped", "FAIL", "HMIP-4140-12-P1-MUST-1", _no_anti_replay),
    "map-rcoa-not-bound-to-sa": ("map", "test_rcoa_hijack_refused", "FAIL", "HMIP-4140-12.1-P2-BIND-1",
                                 _map(_owner=lambda self, original, rcoa: False)),
    "map-installs-null-auth": ("map", "test_null_authentication_refused", "FAIL", "HMIP-4140-12.1-P6-MUST-2",
                               _installs_null_auth),
    "ba-without-rh2": ("map", "test_local_bu_acknowledged", "FAIL", "HMIP-4140-6.2-P2-MUST-2",
                       _ack_patch(lambda p, s: dataclasses.replace(p, rh2_address=None))),
    "ba-wrong-seq": ("map", "test_local_bu_acknowledged", "FAIL", "MIP6-6275-6.1.8-P28-BIND-1",
                     _ack_patch(lambda p, s: dataclasses.replace(p, payload=dataclasses.replace(
                         p.payload, seq=(p.payload.seq + 1) & 0xFFFF)))),
    "ba-longer-lifetime": ("map", "test_local_bu_acknowledged", "FAIL", "MIP6-6275-10.3.1-P15-MUST-NOT-1",
                           _ack_patch(lambda p, s: dataclasses.replace(p, payload=dataclasses.replace(
                               p.payload, lifetime=p.payload.lifetime + 5)))),
    "no-ba": ("map", "test_local_bu_acknowledged", "FAIL", "MIP6-6275-9.5.4-P3-MUST-1",
              _ack_patch(lambda p, s: None if s < 128 else p)),
    "binding-not-shown": ("map", "test_binding_cache_entry", "FAIL", "HMIP-4140-3.1-P8-MUST-1",
                          _map(snapshot=lambda self, original: {**original(self), "bindings": []})),
    "accepts-old-seq": ("map", "test_sequence_out_of_window", "FAIL", "MIP6-6275-9.5.1-P12-MUST-1",
                        _patched_seq(lambda a, b: True)),
    "seq-without-modulo": ("map", "test_sequence_any_then_wraparound", "FAIL", "MIP6-6275-9.5.1-P5-MUST-1",
                           _patched_seq(_no_modulo)),
    "ignores-deregistration": ("map", "test_deregistration", "FAIL", "MIP6-6275-6.1.7-P18-MUST-2",
                               _map(_deregister=lambda self, original, now, req: self._ack(req, 0, 0))),
    "no-prefix-check": ("map", "test_lcoa_outside_prefix_list", "FAIL", "HMIP-4140-6.2-P5-BIND-1",
                        _map_config(onlink_prefixes=None)),
    "no-tunnel": ("map", "test_rcoa_traffic_tunnelled", "FAIL", "HMIP-4140-6.1-P2-BIND-4",
                  _map(tunnel_for=lambda self, original, dst: None)),
    "no-tunnel-breaks-home-agent": ("map", "test_home_agent_and_correspondent_unchanged", "FAIL",
                                    "HMIP-4140-6.3-P1-BIND-1", _map(tunnel_for=lambda self, original, dst: None)),
    "drops-reverse-tunnel": ("map", "test_reverse_tunnel_forwarded", "FAIL", "HMIP-4140-6.2-P3-MUST-1",
                             _map(check_reverse_tunnel=lambda self, original, outer, inner: False)),
    "no-reverse-source-check": ("map", "test_reverse_tunnel_source_checked", "FAIL", "MIP6-6275-10.4.5-P4-MUST-1",
                                _map(check_reverse_tunnel=lambda self, original, outer, inner:
                                     inner in self.cache.bindings)),
    "no-dad": ("map", "test_dad_before_first_ba", "FAIL", "MIP6-6275-10.3.1-P10-MUST-1", _map_config(dad="off")),
    "ignores-dad-failure": ("map", "test_dad_failure", "FAIL", "MIP6-6275-10.3.1-P10-MUST-3",
                            _map(_on_na=lambda self, original, now, packet, na: [])),
    "unsolicited-na-with-s": ("map", "test_proxy_nd", "FAIL", "MIP6-6275-10.4.1-P7-MUST-NOT-1",
                              _map(_unsolicited_na=_solicited_unsolicited_na)),
    "map-option-dist-zero": ("map", "test_originated_map_option", "FAIL", "HMIP-4140-5-P4-MUST-NOT-1",
                             _advertised_dist_zero),
    "ar-without-map-option": ("ar", "test_every_ra_carries_map_option", "FAIL", "HMIP-4140-7.1-P1-BIND-1",
                              _ar(advertised_map_options=lambda self, original, iface: ())),
    "ar-dist-zero": ("ar", "test_map_option_format", "FAIL", "HMIP-4140-5-P4-MUST-NOT-1",
                     _ar(advertised_map_options=lambda self, original, iface: tuple(
                         dataclasses.replace(o, dist=0) for o in original(self, iface)))),
    "no-refresh-ba": ("map", "test_binding_refresh", "FAIL", "MIP6-6275-9.5.4-P3-MUST-1",
                      _map(_refresh=_refresh_without_ba)),
    "refresh-not-extending": ("map", "test_binding_refresh", "WARN", "MIP6-6275-6.1.8-P30-SHOULD-1",
                              _map(_refresh=_refresh_keeps_expiry)),
    "binding-never-expires": ("map", "test_binding_expiry", "FAIL", "MIP6-6275-6.1.7-P18-MUST-1",
                              _map(_create=_never_expires)),
    "previous-map-not-repointed": ("map", "test_previous_map_forwarding", "FAIL", "HMIP-4140-6.1-P2-BIND-4",
                                   _map(_refresh=_refresh_keeps_lcoa)),
    "map-own-option-dist-two": ("map", "test_own_option_dist_one", "FAIL", "HMIP-4140-5-P4-MUST-1",
                                _map_config(dist=2)),
    "ar-relay-without-increment": ("ar", "test_relayed_option_dist_incremented", "FAIL", "HMIP-4140-7.1.1-P2-MUST-1",
                                   _ar(advertised_map_options=_relayed_not_incremented)),
    "rcoa-prefix-48": ("map", "test_rcoa_outside_map_prefix", "FAIL", "MIP6-6275-10.3.1-P5-MUST-1",
                       _rcoa_prefix_48),
    "silent-132": ("map", "test_rcoa_outside_map_prefix", "WARN", "MIP6-6275-10.3.1-P5-SHOULD-1",
                   _ack_patch(lambda p, s: None if s == 132 else p)),
    "ar-ignores-echo-loss": ("ar", "test_echo_loss_detected_and_recovered", "INFO", "HMIP-5380-10-P6-MAY-1",
                             _ar(_probe=_probe_never_down)),
    "ar-slow-echo-detection": ("ar", "test_echo_loss_detected_and_recovered", "WARN", "HMIP-5380-10-P6-MAY-1",
                               _slow_detection),
    "ar-manual-trigger-unsolicited-only": ("ar", "test_manual_trigger_advertised_until_undone", "FAIL",
                                           "HMIP-4140-10-P3-BIND-1", _ar(_send_ra=_solicited_ignores_manual_trigger)),
    "map-seqs-survive-restart": ("map", "test_restart_accepts_any_sequence", "FAIL", "MIP6-6275-9.5.1-P4-MUST-1",
                                 _sequence_numbers_survive_restart),
    "map-stale-forwarding-after-restart": ("map", "test_restart_accepts_any_sequence", "FAIL",
                                           "HMIP-4140-6.1-P2-BIND-4", _map(tunnel_for=_forwarding_survives_restart)),
    "ar-relays-invalid-ra": ("ar", "test_invalid_advertisement_not_relayed", "FAIL", "ND-4861-6.1.2-P1-MUST-1",
                             _ar(_on_ra=_relays_invalid_ra)),
    "ar-relay-last-heard": ("ar", "test_smallest_dist_across_interfaces", "FAIL", "HMIP-4140-7.1.1-P2-MUST-3",
                            _ar(advertised_map_options=_relayed_last_heard)),
    "map-relay-without-own-option": ("map", "test_own_option_with_relayed", "FAIL", "HMIP-4140-7.1.1-P2-MUST-2",
                                     _relays_without_own_option),
    "ar-relay-extends-lifetime": ("ar", "test_relayed_option_dist_incremented", "FAIL", "HMIP-4140-5-P7-BIND-1",
                                  _ar(advertised_map_options=_relayed_lifetime_extended)),
    "map-no-mh-checksum-check": ("map", "test_bad_checksum_bu_discarded", "FAIL", "MIP6-6275-9.2-P2-MUST-1",
                                 _no_mh_checksum_check),
    "map-rejects-reserved-bu-bits": ("map", "test_reserved_bits_and_unknown_options_ignored", "FAIL",
                                     "MIP6-6275-6.1.7-P14-MUST-2", _rejecting(lambda bu: bu.reserved_flags & 0x0003)),
    "map-rejects-unknown-option": ("map", "test_reserved_bits_and_unknown_options_ignored", "FAIL",
                                   "MIP6-6275-6.1.7-P20-MUST-1",
                                   _rejecting(lambda bu: any(type(o).__name__ == "MobilityOptionUnknown"
                                                             for o in bu.options))),
    "map-requires-h-flag": ("map", "test_local_bu_acknowledged", "FAIL", "HMIP-4140-4.1-P4-BIND-1",
                            _rejecting(lambda bu: not bu.h, status=131)),
}

#: variant -> {"pics": claims added to the testbed's, "daemon_options": merged into the DUT daemon's section}
TESTBED: dict[str, dict[str, dict]] = {
    "previous-map-not-repointed": {"pics": {"previous_map_forwarding": True}},
    "ar-relay-without-increment": {"pics": {"dynamic_map_discovery": True}, "daemon_options": {"discovery": "dynamic"}},
    "ar-relay-extends-lifetime": {"pics": {"dynamic_map_discovery": True}, "daemon_options": {"discovery": "dynamic"}},
}
from variants_mn import MN_VARIANTS  # noqa: E402
VARIANTS.update(MN_VARIANTS)


def _map_relays_last_heard(config, edition):
    """A MAP relaying other MAPs' options relays one heard on two interfaces with the Dist of the last RA that carried
    it, not the smallest (patched where the daemon builds its advertiser)."""
    from reference_impl.daemon import advertiser

    class LastHeard(ArCore):
        def advertised_map_options(self, iface):
            return _relayed_last_heard(self, ArCore.advertised_map_options, iface)

    advertiser.ArCore = LastHeard  # this process runs only the variant
    return MapCore(config, edition)


# base §7.1.1 smallest Dist across interfaces, MAP role (HMIP-MAP-DISC-002): MAP1 learns MAP options on both its
# upstream links, core (eth0) and up2 (eth2, the tester's alone) -- testbeds/virtual.yaml's relay_from
VARIANTS["map-relay-last-heard"] = ("map", "test_map_smallest_dist_across_interfaces", "FAIL",
                                    "HMIP-4140-7.1.1-P2-MUST-3", _map_relays_last_heard)


def _option_type_253(ra_packet):
    """``ra_packet`` (an RA) with every MAP option sent under Type 253 (RFC 4727 experimental) instead of 23."""
    from reference_impl.wire.icmpv6 import MapOption, NdOptionUnknown

    def retyped(o):
        if not isinstance(o, MapOption):
            return o
        return NdOptionUnknown(253, MapOption.FORMAT.pack((o.dist << 4) | o.pref, (0x80 if o.r else 0) | o.reserved,
                                                          o.valid_lifetime, o.address))
    ra = ra_packet.payload
    return dataclasses.replace(ra_packet, payload=dataclasses.replace(ra, options=tuple(retyped(o) for o in ra.options)))


def _map_option_type_253(config, edition):
    """The MAP's own RAs carry its option under Type 253 (patched where the MAP daemon builds its advertiser)."""
    from reference_impl.daemon import advertiser

    class Retyped(ArCore):
        def build_ras(self, iface):
            return [_option_type_253(ra) for ra in super().build_ras(iface)]

    advertiser.ArCore = Retyped  # this process runs only the variant
    return MapCore(config, edition)


#: RFC 5380 edition rows: run with ``--edition rfc5380`` by test_negative_controls_rfc5380.py (not merged into
#: VARIANTS, whose rows run in the default rfc4140 edition); same format as VARIANTS.
from variants_mn import MN_VARIANTS_RFC5380  # noqa: E402

VARIANTS_RFC5380: dict[str, tuple[str, str, str, str, Callable]] = {
    "ar-map-option-type-253": ("ar", "test_map_option_format", "FAIL", "HMIP-5380-5-P4-BIND-1",
                               _ar(build_ras=lambda self, original, iface: [
                                   _option_type_253(ra) for ra in original(self, iface)])),
    "map-option-type-253": ("map", "test_originated_map_option", "FAIL", "HMIP-5380-5-P4-BIND-1",
                            _map_option_type_253),
    "map-option-lifetime-fixed": ("map", "test_originated_map_option", "FAIL", "HMIP-5380-5-P14-BIND-1",
                                  _map(map_option=lambda self, original, now: dataclasses.replace(
                                      original(self, now), valid_lifetime=86400))),
    # the existing rfc4140 row, judged in the rfc5380 edition under RFC 5380's Dist rule
    "map-own-option-dist-two": ("map", "test_own_option_dist_one", "FAIL", "HMIP-5380-5-P8-BIND-1", _map_config(dist=2)),
    **MN_VARIANTS_RFC5380,
}
