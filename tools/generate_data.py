"""Regenerate every domain's built-in database and task sets from their seeded generators.

    python tools/generate_data.py [--seed 0] [--check]

Writes ``taurl/domains/<domain>/data/*.json`` and ``taurl/domains/<domain>/tasks/<split>.json``.
``--check`` writes nothing and exits 1 if any committed file differs from what the generators make.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain


def render(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def generated_files(domain_name: str, seed: int) -> dict[Path, str]:
    """Every file the domain's generator makes, with its exact text."""
    domain = get_domain(domain_name)
    generator = importlib.import_module(f"taurl.domains.{domain_name}.generate")
    database = generator.generate_database(seed)
    files = {domain.builtin_data_dir / domain.tables[table]: render(records) for table, records in database.items()}
    for table, records in getattr(generator, "generate_reference", lambda s: {})(seed).items():
        files[domain.builtin_data_dir / domain.reference_files[table]] = render(records)
    for split, tasks in generator.generate_tasks(database, seed).items():
        files[domain.package_dir / "tasks" / f"{split}.json"] = render({"tasks": [t.to_dict() for t in tasks]})
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--domain", action="append", choices=DOMAIN_NAMES, help="only these domains (repeatable)")
    args = parser.parse_args()
    stale = []
    for name in args.domain or DOMAIN_NAMES:
        for path, text in generated_files(name, args.seed).items():
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    for path in stale:
        print(f"differs from its generator: {path}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
