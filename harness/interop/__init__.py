"""Interoperability runs: the DUT in the reference topology with reference peers, judged end to end by flows
between a correspondent and the mobile node across moves and faults (``hmipv6ct run --interop``).

:mod:`~harness.interop.flowstats` (per-phase loss, reordering, interruption), :mod:`~harness.interop.flows`
(the flows on the nodes), :mod:`~harness.interop.path` (what the captures show of each hop, and the clause
behind a broken one).  Nothing here knows pytest; ``conformance/interop`` holds the test purposes.
"""
