"""The sans-I/O cores under fuzzed input (issue 9): MAP, AR, MN (primed: registered with its MAP and home agent),
HA and CN each get the same sequences of packets -- mostly well-formed messages aimed where each core looks, their
byte-level mutants that still decode, and any packet at all -- on any interface, at any time step.

Properties after every ``handle``/``tick`` (:func:`fuzz_support.check_invariants`): nothing raises; the result is a
list of actions the I/O layer can carry out (every ``Send`` encodes); ``next_deadline()`` is None or finite and not
in the past; ``snapshot()`` (what ``hmipv6-ctl show`` serves) works; the MAP's binding cache holds only bindings
with unicast routable RCoA/LCoA on its prefix, positive lifetimes and a tunnel each, never more than
``max_bindings``; the MN's Binding Update List stays well formed.
"""

from __future__ import annotations

import random

from fuzz_support import (
    CORES, LCOA, MAP, OTHER_LCOA, OTHER_RCOA, RCOA, Cores, bus_to_map, check_decode, drive, drive_core, map_core,
    mutate, packets, register_bu, steps,
)
from hypothesis import given
from hypothesis import strategies as st

from reference_impl import wire as w


@CORES
@given(steps(), st.integers(0, 2), st.integers(0, 100))
def test_cores_survive_any_sequence(sequence, variant, seed):
    drive(Cores(variant, seed), sequence)


@CORES
@given(st.lists(st.tuples(packets(), st.integers(0, 2**32)), min_size=1, max_size=6), st.integers(0, 2))
def test_cores_take_whatever_the_decoder_passes(items, variant):
    """Mutated bytes of arbitrary packets, decoded as a daemon decodes them, then fed to every core."""
    cores = Cores(variant)
    for packet, seed in items:
        for decoded in check_decode(mutate(w.encode_packet(packet), random.Random(seed))):
            drive(cores, [(0.1, random.Random(seed).choice(["dom", "acc", "up", "home"]), decoded)])


@CORES
@given(st.lists(bus_to_map(), min_size=1, max_size=30), st.integers(0, 2))
def test_map_binding_cache_under_a_bu_storm(bus, variant):
    """Many BUs (new RCoAs, refreshes, de-registrations, odd flags and options): the cache stays well formed and
    bounded, and a binding nobody else's BU names keeps its LCoA."""
    core = map_core(variant)
    now = 0.0
    drive_core(core, now, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, 10, lifetime=0xFFFF))
    now += 1.0
    core.tick(now)
    kept = core.tunnel_for(OTHER_RCOA)
    for bu in bus:
        now += 0.01
        drive_core(core, now, "acc", bu)
    named = any(bu.home_address == OTHER_RCOA for bu in bus)
    if kept is not None and not named:
        assert core.tunnel_for(OTHER_RCOA) == OTHER_LCOA, "a binding changed although no BU named its RCoA"


def test_mn_primed_state_is_registered():
    """The harness the MN fuzz starts from: registered with the MAP (RCoA tunnel) and the home agent."""
    cores = Cores()
    paths = cores.mn.paths()
    assert paths.mode == "hmipv6" and paths.lcoa == LCOA and paths.rcoa == RCOA and paths.map == MAP
    assert paths.ha_coa == RCOA
    assert cores.map.tunnel_for(RCOA) == LCOA and cores.map.tunnel_for(OTHER_RCOA) == OTHER_LCOA
