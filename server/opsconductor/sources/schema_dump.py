"""Write ``schemas/addon.schema.json``: ``python -m opsconductor.sources.schema_dump [path]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opsconductor.shipped import shipped
from opsconductor.sources.kinds import default_registry
from opsconductor.sources.manifest import addon_schema

DEFAULT = shipped("schemas") / "addon.schema.json"


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(addon_schema(default_registry()), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
