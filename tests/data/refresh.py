"""Rewrite the vendored captures from a copy of the full recorded set.

    python tests/data/refresh.py PATH/TO/aws-captures/placebo

Every file already under tests/data/aws-captures/placebo is re-read from the source folder
and written back without indentation; files are neither added nor removed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "aws-captures" / "placebo"


def main(source: Path) -> int:
    count = 0
    for target in sorted(HERE.glob("*/*.json")):
        original = source / target.relative_to(HERE)
        document = json.loads(original.read_text(encoding="utf-8"))
        target.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
        count += 1
    print(f"refreshed {count} capture(s) from {source}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
