"""``hmipv6ct load``: a capacity test of a MAP with a fleet of emulated mobile nodes (:mod:`reference_impl.fleet`).

:mod:`.cli` (entry point ``main``), :mod:`.target` (what the testbed offers), :mod:`.plan` (addresses),
:mod:`.link` (the AF_PACKET socket), :mod:`.run` (the I/O loop and phases), :mod:`.check` (tunnelled traffic,
judged by the tester's capture and scapy), :mod:`.guard` (access routers of the virtual testbed),
:mod:`.baseline` (in-process reference), :mod:`.report` and :mod:`.plot` (table, JSON, SVG).
"""
