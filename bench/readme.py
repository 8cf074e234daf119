"""Copy the committed benchmark results into README.md, between the bench markers.

    python bench/readme.py

Each ``bench/results/<topic>.md`` is written by its benchmark script; this keeps the README's
tables identical to them (run it after any benchmark).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- bench-tables:begin -->", "<!-- bench-tables:end -->"
#: README order; topics not listed follow alphabetically.
ORDER = ["gas", "gas_session", "compute", "worker", "federated", "federated_core", "mpc", "synth"]


def render() -> str:
    topics = sorted(p.stem for p in RESULTS.glob("*.md"))
    ordered = [t for t in ORDER if t in topics] + [t for t in topics if t not in ORDER]
    parts = []
    for topic in ordered:
        text = (RESULTS / f"{topic}.md").read_text().strip()
        # Demote the file's headings below the README's "Benchmarks" section.
        text = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", text, flags=re.M)
        parts.append(f"{text}\n\n_Source: `bench/results/{topic}.md`._")
    return "\n\n".join(parts)


def main() -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {BEGIN} … {END} markers.")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{render()}\n{END}{tail}")
    print(f"README.md: benchmark tables updated from {RESULTS}")


if __name__ == "__main__":
    main()
