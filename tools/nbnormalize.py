"""Normalise notebooks for committing: no outputs, no execution counts, one kernelspec.

    python tools/nbnormalize.py notebooks/*.ipynb        # rewrite in place
    python tools/nbnormalize.py --check notebooks/*.ipynb  # exit 1 if any would change

Authoring tip: `jupytext --to py:percent X.ipynb` gives an editable script; convert it back
with `jupytext --to ipynb` and run this tool before committing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise(nb: dict) -> dict:
    """The notebook as it should be committed."""
    nb["metadata"] = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for cell in nb["cells"]:
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in ("tags",)}
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.pop("attachments", None) if not cell.get("attachments") else None
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for name in (a for a in argv if not a.startswith("--")):
        path = Path(name)
        before = path.read_text(encoding="utf-8")
        after = json.dumps(normalise(json.loads(before)), indent=1, ensure_ascii=False) + "\n"
        if after != before:
            changed.append(name)
            if not check:
                path.write_text(after, encoding="utf-8")
    if changed:
        print(("would change: " if check else "normalised: ") + " ".join(changed))
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
