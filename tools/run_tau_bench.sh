#!/usr/bin/env bash
# PPO (GRPO advantages) for Qwen2.5-7B-Instruct on taurl's tau_bench environment with SkyRL:
# Ray + vLLM on the GPUs, GPT-4o as the simulated user through taurl's cache (record mode) with a
# spend limit shared by every Ray worker, episodes recorded from the workers.
#
#   tools/run_tau_bench.sh [--skyrl 0.3|0.4] [overrides...]
#
# Runs on whichever SkyRL is installed, and says which: skyrl-train 0.3.1 (the train extra:
# python -m taurl.skyrl.train, Hydra) or skyrl 0.4.0 (the skyrl04 extra: python -m taurl.skyrl.train04,
# typed config); --skyrl (or SKYRL=0.3|0.4) picks one. The overrides below use 0.3.1's key names, which
# the 0.4.0 entrypoint maps to its own (taurl/skyrl/config04.py); either version's names can be appended.
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
SKYRL=${SKYRL:-auto}
if [[ "${1:-}" == --skyrl ]]; then SKYRL=${2:-}; shift 2 || shift; elif [[ "${1:-}" == --skyrl=* ]]; then SKYRL=${1#--skyrl=}; shift; fi
installed() { python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }
if [[ "$SKYRL" == auto ]]; then
  if installed skyrl_train && ! installed skyrl.train; then SKYRL=0.3
  elif installed skyrl.train && ! installed skyrl_train; then SKYRL=0.4
  else
    echo "install one SkyRL on Python 3.12 (see README, Training): pip install -e '.[train]' (skyrl-train 0.3.1)" \
      "or pip install -e '.[skyrl04]' (skyrl 0.4.0); with both installed, pass --skyrl 0.3|0.4" >&2
    exit 2
  fi
fi
case "$SKYRL" in
  0.3) MODULE=taurl.skyrl.train; PACKAGE=skyrl_train; EXTRA=train; NAME="skyrl-train 0.3.1" ;;
  0.4) MODULE=taurl.skyrl.train04; PACKAGE=skyrl.train; EXTRA=skyrl04; NAME="skyrl 0.4.0" ;;
  *) echo "--skyrl $SKYRL: one of 0.3, 0.4" >&2; exit 2 ;;
esac
installed "$PACKAGE" || {
  echo "$NAME is not installed: on Python 3.12 run  pip install -e '.[$EXTRA]'  (see README, Training)" >&2
  exit 2
}
echo "SkyRL $SKYRL ($NAME): python -m $MODULE" >&2
if [[ ! -f "$DATA_DIR/train.parquet" ]]; then
  echo "converting taurl's task sets to $DATA_DIR" >&2
  taurl data convert --out "$DATA_DIR"
fi

exec python -m "$MODULE" \
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
