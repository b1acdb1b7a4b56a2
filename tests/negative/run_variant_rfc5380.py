"""Run a reference daemon with a broken core of the RFC 5380 rows (test-only):
run_variant_rfc5380.py VARIANT --config FILE"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from variants import VARIANTS_RFC5380  # noqa: E402

from reference_impl.daemon import ar_main, map_main, mn_main  # noqa: E402


def main() -> int:
    name, argv = sys.argv[1], sys.argv[2:]
    if "--config" in argv:
        os.environ["HMIPV6_VARIANT_STATE"] = str(Path(argv[argv.index("--config") + 1]).parent / f"variant-{name}.json")
    role, _test, _verdict, _requirement, factory = VARIANTS_RFC5380[name]
    daemon = {"map": map_main, "ar": ar_main, "mn": mn_main}[role]
    return daemon.main(argv, core_factory=factory)


if __name__ == "__main__":
    raise SystemExit(main())
