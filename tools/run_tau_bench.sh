#!/usr/bin/env bash
# PPO (GRPO advantages) for Qwen2.5-7B-Instruct on taurl's tau_bench environment with SkyRL:
# Ray + vLLM on the GPUs, GPT-4o as the simulated user through taurl's cache (record mode) with a
# spend limit shared by every Ray worker, episodes recorded from the workers.
#
#   tools/run_tau_bench.sh [hydra overrides...]
#
# Environment: OPENAI_API_KEY (required; read from the environment only, never written anywhere),
# NUM_GPUS (8), TP (tensor parallel size per vLLM engine, 4), DATA_DIR ($HOME/data/tau_bench),
# RUN_NAME (tau_bench_qwen2.5_7b), SPEND_LIMIT_USD (100), LOGGER (console or wandb),
# TAURL_HOME ($HOME/taurl: cache and recordings), USER_MODEL (gpt-4o).
set -euo pipefail

: "${OPENAI_API_KEY:?export OPENAI_API_KEY for the GPT-4o user simulator (it is only read from the environment)}"
NUM_GPUS=${NUM_GPUS:-8}
TP=${TP:-4}
DATA_DIR=${DATA_DIR:-$HOME/data/tau_bench}
RUN_NAME=${RUN_NAME:-tau_bench_qwen2.5_7b}
SPEND_LIMIT_USD=${SPEND_LIMIT_USD:-100}
LOGGER=${LOGGER:-console}
TAURL_HOME=${TAURL_HOME:-$HOME/taurl}
USER_MODEL=${USER_MODEL:-gpt-4o}

if (( NUM_GPUS % TP != 0 )); then
  echo "NUM_GPUS ($NUM_GPUS) must be a multiple of TP ($TP)" >&2
  exit 2
fi
python -c 'import skyrl_train' 2>/dev/null || {
  echo "skyrl-train is not installed: on Python 3.12 run  pip install -e '.[train]'  (see README, Training)" >&2
  exit 2
}
if [[ ! -f "$DATA_DIR/train.parquet" ]]; then
  echo "converting taurl's task sets to $DATA_DIR" >&2
  taurl data convert --out "$DATA_DIR"
fi

exec python -m taurl.skyrl.train \
  "data.train_data=['$DATA_DIR/train.parquet']" \
  "data.val_data=['$DATA_DIR/validation.parquet']" \
  trainer.run_name="$RUN_NAME" \
  trainer.logger="$LOGGER" \
  trainer.placement.policy_num_gpus_per_node="$NUM_GPUS" \
  trainer.placement.ref_num_gpus_per_node="$NUM_GPUS" \
  generator.num_inference_engines=$((NUM_GPUS / TP)) \
  generator.inference_engine_tensor_parallel_size="$TP" \
  environment.skyrl_gym.tau_bench.user_strategy=llm \
  environment.skyrl_gym.tau_bench.user_model="$USER_MODEL" \
  environment.skyrl_gym.tau_bench.cache_mode=record \
  environment.skyrl_gym.tau_bench.cache_dir="$TAURL_HOME/cache" \
  environment.skyrl_gym.tau_bench.recording_dir="$TAURL_HOME/recordings/$RUN_NAME" \
  environment.skyrl_gym.tau_bench.run_id="$RUN_NAME" \
  environment.skyrl_gym.tau_bench.user_max_cost_usd="$SPEND_LIMIT_USD" \
  environment.skyrl_gym.tau_bench.spend_ledger=ray \
  "$@"
