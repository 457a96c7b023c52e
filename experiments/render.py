"""Re-render every published page from the records, in seconds: each result's Markdown under
experiments/results/ from its JSON record, and the generated blocks of the docs pages (docs/)
from those pages.

    python -m experiments.render            # write the pages that differ
    python -m experiments.render --check    # write nothing; exit 1 if a page differs

Trains and measures nothing: a record is written only by its own script (its `command`).
"""

from __future__ import annotations

import argparse
import sys
import time

from experiments.lib import pages, records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rendered = pages.every_page()
    changed = pages.stale(rendered) if args.check else pages.write(rendered)
    if args.check:
        changed += [p for p in pages.figures() if not p.exists()]
    else:
        changed += pages.draw_figures()
    took = time.perf_counter() - start
    verb = "differ from their records" if args.check else "re-rendered"
    for path in changed:
        print(f"{records.shown(path)}: {verb}")
    print(f"{len(rendered)} pages and figures, {len(changed)} {verb}, in {took:.1f} s")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
