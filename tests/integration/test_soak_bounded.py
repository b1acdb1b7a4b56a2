"""The soak of issue 9 in a bounded form for CI (``benchmarks/soak.py`` runs the long one): 50,000 malformed and
valid frames to the running MAP1, AR1, AR2 and mobile node of the virtual testbed, then the same judgements as the
long soak -- no daemon died or restarted, none hangs (control socket answers during and after), no internal or
encoding error, RSS growth within the bound, every binding installed before still forwards (by traffic), CN1
still reaches the mobile node.

The judging is shown able to fail twice: on made-up results (no testbed), and for real -- a second, shorter soak
in which a daemon is killed and a binding de-registered half-way must be judged as failed for exactly those.
"""

from __future__ import annotations

import copy
import json

import pytest

from benchmarks.soak import SoakParams, judge, run_soak, table


@pytest.mark.netns
def test_bounded_soak(tb, tmp_path):
    result = run_soak(tb, SoakParams(packets=50_000, pool=10_000, scapy_pool=1_000, extra_mns=6, seed=7))
    (tmp_path / "soak.json").write_text(json.dumps(result, indent=1, default=str))
    print("\n" + table(result))
    assert result["ok"], "soak failed:\n" + "\n".join(result["failures"])
    assert result["sent_total"] >= 50_000 and result["sent"]["valid-bu"] > 0 and result["sent"]["fuzz-scapy"] > 0
    for node, d in result["daemons"].items():  # the soak reached every daemon's decoder and core
        assert d["frames"] > 2_000 and d["to_core"] > 500 and d["decode_errors"] > 100, (node, d)
        assert d["control_probes"] >= 1, (node, "the control socket was not probed during the soak")
    assert len(result["bindings"]) == 6 and all(b["before"] and b["after"] for b in result["bindings"])


@pytest.mark.netns
def test_soak_judges_a_killed_daemon_and_a_lost_binding(tb):
    """Half-way through, AR2's daemon is SIGKILLed (by PID, through the backend) and a valid de-registration of the
    first binding is sent: the verdict must be FAIL, naming the dead daemon and the binding that stopped
    forwarding, and nothing about the daemons and bindings that were left alone."""
    result = run_soak(tb, SoakParams(packets=6_000, pool=2_000, scapy_pool=200, extra_mns=4, seed=8,
                                     sabotage={"kill": "ar2", "deregister": 0}))
    print("\n" + table(result))
    failures = result["failures"]
    assert not result["ok"]
    assert any(f.startswith("ar2: daemon died") for f in failures), failures
    by_rcoa = {b["rcoa"]: b for b in result["bindings"]}
    first = result["bindings"][0]
    assert first["link"] == "acc1" and first["before"] and not first["after"]
    assert any(f"binding {first['rcoa']} " in f and "no longer forwards" in f for f in failures), failures
    others = [b for rcoa, b in by_rcoa.items() if rcoa != first["rcoa"]]  # AR2's kernel still forwards: the
    assert others and all(b["after"] for b in others), others  # daemon only advertises
    assert not any(f.startswith(("map1:", "ar1:", "mn:")) for f in failures), failures


# --- the judging function on made-up results (no testbed) ---------------------------------------------------------

def _passing() -> dict:
    daemon = {"pid_before": 100, "pid_after": 100, "alive": True, "rss_before_kb": 30_000, "rss_after_kb": 31_000,
              "rss_peak_kb": 31_000, "rss_mid_kb": 30_500, "frames": 5_000, "to_core": 2_000, "decode_errors": 300,
              "internal_errors": 0, "encode_errors": 0, "send_errors": 0, "ctl_show_ok": True, "ctl_error": None,
              "control_probes": 3, "control_failures": 0, "control_max_s": 0.01, "control_errors": []}
    return {
        "params": {"rss_bound_mb": 32.0, "hang_s": 10.0},
        "daemons": {node: dict(daemon, pid_before=100 + i, pid_after=100 + i)
                    for i, node in enumerate(("map1", "ar1", "ar2", "mn"))},
        "bindings": [{"rcoa": "2001:db8:100::5e:1", "lcoa": "2001:db8:110::5e:1", "link": "acc1", "before": True,
                      "after": True}],
        "mn": {"before": {"ping_received": 5, "bound": ["cn", "ha", "map"]},
               "after": {"ping_received": 5, "bound": ["cn", "ha", "map"]}},
    }


def test_judge_passes_a_clean_soak():
    assert judge(_passing()) == []


@pytest.mark.parametrize("what, change, expected", [
    ("daemon died", lambda r: r["daemons"]["ar1"].update(alive=False, pid_after=None), "ar1: daemon died"),
    ("daemon restarted", lambda r: r["daemons"]["map1"].update(pid_after=999), "map1: daemon died or was restarted"),
    ("hang", lambda r: r["daemons"]["mn"].update(control_failures=2, control_errors=["timed out"]), "mn: 2 of 3"),
    ("no answer after", lambda r: r["daemons"]["ar2"].update(ctl_show_ok=False, ctl_error="x"), "ar2: hmipv6-ctl"),
    ("internal error", lambda r: r["daemons"]["map1"].update(internal_errors=1), "map1: 1 internal errors"),
    ("encode error", lambda r: r["daemons"]["mn"].update(encode_errors=4), "mn: 4 packets"),
    ("stuck", lambda r: r["daemons"]["ar1"].update(frames=0), "ar1: processed no frame"),
    ("memory", lambda r: r["daemons"]["map1"].update(rss_after_kb=30_000 + 33 * 1024), "map1: RSS grew 33.0 MiB"),
    ("binding lost", lambda r: r["bindings"][0].update(after=False), "no longer forwards after the soak"),
    ("binding never worked", lambda r: r["bindings"][0].update(before=False), "did not forward before the soak"),
    ("mobile node unreachable", lambda r: r["mn"]["after"].update(ping_received=0), "CN1 no longer reaches"),
    ("mobile node lost its MAP", lambda r: r["mn"]["after"].update(bound=["ha"]), "the mobile node lost a binding"),
])
def test_judge_names_each_failure(what, change, expected):
    result = copy.deepcopy(_passing())
    change(result)
    failures = judge(result)
    assert len(failures) == 1 and expected in failures[0], (what, failures)
