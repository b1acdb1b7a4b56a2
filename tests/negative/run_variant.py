"""Run a reference daemon with a broken core (test-only):  run_variant.py VARIANT [--edition E] --config FILE

The variant is looked up in the edition's registry (``variants.VARIANTS`` for rfc4140, ``VARIANTS_RFC5380``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from variants import VARIANTS, VARIANTS_RFC5380  # noqa: E402

from reference_impl.daemon import ar_main, map_main, mn_main  # noqa: E402


def main() -> int:
    name, argv = sys.argv[1], sys.argv[2:]
    edition = "rfc4140"
    if argv[:1] == ["--edition"]:
        edition, argv = argv[1], argv[2:]
    if "--config" in argv:  # state a variant keeps across restarts of its daemon lives beside the config
        os.environ["HMIPV6_VARIANT_STATE"] = str(Path(argv[argv.index("--config") + 1]).parent / f"variant-{name}.json")
    role, _test, _verdict, _requirement, factory = {"rfc4140": VARIANTS, "rfc5380": VARIANTS_RFC5380}[edition][name]
    daemon = {"map": map_main, "ar": ar_main, "mn": mn_main}[role]
    return daemon.main(argv, core_factory=factory)


if __name__ == "__main__":
    raise SystemExit(main())
