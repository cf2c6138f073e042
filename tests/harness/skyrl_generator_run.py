"""Run by tests/test_skyrl_generator.py: in .venv-train (Python 3.12, skyrl-train 0.3.1, torch; no vLLM), and
with ``--skyrl04`` in .venv-skyrl04-gen (SkyRL 0.4.0, lent torch).

    python tests/harness/skyrl_generator_run.py WORK_DIR [--skyrl04]

Drives ``tau_bench`` through SkyRL's real generator (taurl.skyrl.generator, with the version's adapter:
taurl.skyrl.skyrl031 or skyrl040) once per scenario, every trajectory recorded to WORK_DIR/recording (run id =
scenario), and writes WORK_DIR/result.json: the tokenizer's known ids, each scenario's GeneratorOutput, and for
every recorded episode the Qwen2.5 template applied to its recorded conversation (up to its last assistant
message) and the assistant messages, so the test can compare them with the generator's token ids and loss masks.
When τ² imports (`make train-tau2-env`), telecom rows go through the same generator too (oracle and
do-nothing; result.json's ``tau2`` says why not otherwise). SkyRL's own evaluation pass (``RayPPOTrainer.eval``)
runs over an eval parquet of the same tasks, the oracle on some of each domain's and doing nothing on the rest
(run id ``eval``): result.json's ``eval`` holds its metrics.
"""

import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

from loguru import logger

from taurl.core.types import PARSE_ERROR, Action
from taurl.domains.base import DataError
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.sim.server import SimServer
from taurl.skyrl import policies
from taurl.skyrl.dataset import Conversion, write_conversion
from taurl.skyrl.env import recording_writer
from taurl.skyrl.generator import batch_rows, compose, evaluate, generate, prompt_dataset, task_openings
from taurl.skyrl.tokenizer import qwen25_tokenizer

DOMAINS = ("airline", "retail", "telecom", "healthcare", "doordash")
TASKS_PER_DOMAIN = 2
TAU2_DOMAIN, TAU2_TASKS = "tau2:telecom", 3  # telecom: the user's device calls too (dual control)
CUT_AT = 8192  # generator.max_input_length for the cut scenario (validate_cfg: >= trainer.max_prompt_length)
EVAL_SAMPLES, EVAL_BATCH = 2, 4  # eval_n_samples_per_prompt; eval_batch_size (rows): several batches


def tasks_with_distinct_openings():
    chosen = []
    for name in DOMAINS:
        seen, picked = set(), []
        for task in get_domain(name).tasks("test"):
            if task.instruction not in seen and any(not a.is_respond for a in task.actions):
                seen.add(task.instruction)
                picked.append(task)
            if len(picked) == TASKS_PER_DOMAIN:
                break
        chosen += picked
    return chosen


def tau2_tasks():
    """A few telecom training tasks with gold calls and distinct openings, none with a message history
    (the oracle knows its task by the first user message and counts the assistant messages as its turns)."""
    from taurl.backends.tau2.history import package_history

    seen, picked = set(), []
    for task in get_domain(TAU2_DOMAIN).tasks("train"):
        if task.actions and task.instruction not in seen and not package_history(task):
            seen.add(task.instruction)
            picked.append(task)
    return picked[:TAU2_TASKS]


def oracle_known(tasks):
    """The tasks the eval's oracle knows: the first ``n % 3`` of the n-th domain's (and two of τ²'s), so
    that each domain has its own pass rate (airline 0, retail 1/2, telecom 1, healthcare 0, doordash 1/2)."""
    by_domain = {}
    for task in tasks:
        by_domain.setdefault(task.domain, []).append(task)
    known = []
    for n, (domain, own) in enumerate(by_domain.items()):
        known += own[: 2 if domain.startswith("tau2:") else n % 3]
    return known


def run_evaluation(skyrl, work: Path, config, tokenizer, tau2_chosen):
    """SkyRL's evaluation pass over an eval parquet of a few tasks per domain: the oracle on
    :func:`oracle_known`'s, doing nothing on the others. (SkyRL 0.4.0's trainer scrapes vLLM's metrics
    through Ray unless told not to: neither runs here.)"""
    no_scraper = ["generator.inference_engine.enable_ray_prometheus_stats=false"] if skyrl.NAME == "skyrl 0.4.0" else []
    tasks = [*tasks_with_distinct_openings(), *tau2_chosen]
    rows = work / "data-eval"
    write_conversion(Conversion(validation=tasks), rows)
    cfg = config(
        "eval",
        f"data.val_data=['{rows / 'validation.parquet'}']",
        f"generator.eval_n_samples_per_prompt={EVAL_SAMPLES}",
        f"trainer.eval_batch_size={EVAL_BATCH}",
        f"trainer.export_path={work / 'export'}",
        *no_scraper,
    )
    known = {(t.domain, t.id) for t in oracle_known(tasks)}
    openings = task_openings(batch_rows(prompt_dataset(skyrl, cfg, tokenizer, cfg.data.val_data), len(tasks)), cfg)
    oracle = policies.Oracle(
        {said: t for said, t in openings.items() if (t.domain, t.id) in known}, otherwise=policies.do_nothing
    )
    metrics = evaluate(skyrl, cfg, tokenizer, oracle)
    dumped = {  # the trainer's per-data-source dump: each sample's reward (on its last token)
        path.stem: [json.loads(line)["score"][-1] for line in path.read_text().splitlines()]
        for path in sorted((work / "export" / "dumped_evals").glob("*/*.jsonl"))
        if path.stem != "aggregated_results"
    }
    return {"rows": len(tasks), "samples": EVAL_SAMPLES, "oracle": sorted(known), "metrics": metrics, "dumped": dumped}


def main(work: Path, skyrl04: bool = False) -> None:
    if skyrl04:
        from taurl.skyrl import skyrl040 as skyrl
    else:
        from taurl.skyrl import skyrl031 as skyrl
    logger.remove()  # skyrl-train logs every engine request at DEBUG
    os.environ["LOG_LEVEL"] = "WARNING"  # the level skyrl-train's trainer resets its logging to
    logger.add(sys.stderr, level="WARNING")
    tokenizer = qwen25_tokenizer()
    data, recording = work / "data", work / "recording"
    write_conversion(Conversion(train=tasks_with_distinct_openings()), data)
    known = {
        "vocab_size": len(tokenizer),
        "im_start_system": tokenizer.encode("<|im_start|>system\n", add_special_tokens=False),
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
    }

    def config(run_id, *overrides, user="scripted", rows=data):
        env = "environment.skyrl_gym.tau_bench"
        return compose(
            skyrl,
            [
                f"data.train_data=['{rows / 'train.parquet'}']",
                f"data.val_data=['{rows / 'train.parquet'}']",
                f"{env}.user_strategy={user}",
                f"{env}.recording_dir={recording}",
                f"{env}.cache_dir={work / 'cache'}",
                f"{env}.run_id={run_id}",
                "generator.n_samples_per_prompt=2",
                *overrides,
            ],
        )

    scenarios = {}

    def run(name, cfg, policy_for):
        dataset = prompt_dataset(skyrl, cfg, tokenizer)
        batch = batch_rows(dataset, len(dataset))
        output = generate(skyrl, cfg, tokenizer, policy_for(cfg, batch), batch)
        scenarios[name] = {
            "rows": len(dataset),
            "samples": cfg.generator.n_samples_per_prompt,
            "max_turns": cfg.generator.max_turns,
            **{k: output[k] for k in ("prompt_token_ids", "response_ids", "loss_masks", "rewards", "stop_reasons")},
            "rollout_metrics": {k: float(v) for k, v in output["rollout_metrics"].items()},
        }

    def oracle(cfg, batch):
        return policies.Oracle(task_openings(batch, cfg))

    def loop(cfg, batch):
        return policies.ToolLoop(Action("get_user_details", {"user_id": "nobody"}))

    run("oracle", config("oracle"), oracle)
    run("do_nothing", config("do_nothing"), lambda cfg, batch: policies.do_nothing)
    run("tool_loop", config("tool_loop", "generator.max_turns=4"), loop)
    run("malformed", config("malformed"), lambda cfg, batch: policies.malformed_then_stop)
    run(
        "cut",
        config(
            "cut", f"generator.max_input_length={CUT_AT}", f"generator.sampling_params.max_generate_length={2 * CUT_AT}"
        ),
        lambda cfg, batch: policies.LongCall(CUT_AT - 64),  # whole (no engine cut), past max_input_length
    )
    with SimServer() as sim:
        env = "environment.skyrl_gym.tau_bench"
        llm = config("llm_user", f"{env}.user_model=sim-user", f"{env}.user_base_url={sim.base_url}", user="llm")
        run("llm_user", llm, oracle)
    chosen = []
    try:
        chosen = tau2_tasks()
    except DataError as exc:  # τ² is not installed here, or a dependency is missing
        tau2 = {"skipped": str(exc)}
    else:
        tau2, rows = {"tasks": [t.id for t in chosen]}, work / "data-tau2"
        write_conversion(Conversion(train=chosen), rows)
        run("tau2_oracle", config("tau2_oracle", rows=rows), oracle)
        run("tau2_do_nothing", config("tau2_do_nothing", rows=rows), lambda cfg, batch: policies.do_nothing)
    evaluation = run_evaluation(skyrl, work, config, tokenizer, chosen)
    recording_writer(str(recording)).flush()

    episodes = []
    for row in RecordingStore(recording).episode_rows():
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        episodes.append(
            {
                **{k: row.get(k) for k in ("run_id", "domain", "task_id", "reward", "terminated_by")},
                "call_models": sorted({c["model"] for c in row["model_calls"]}),
                "n_parse_errors": sum(1 for s in row["trace"] if s["name"] == PARSE_ERROR),
                "n_user_calls": sum(1 for s in row["trace"] if s.get("requestor") == "user"),  # τ² telecom
                "template_ids": tokenizer.apply_chat_template(messages[: last + 1], tokenize=True, return_dict=False),
                "assistant": [m["content"] for m in messages if m["role"] == "assistant"],
                "observations": [m["content"] for m in messages[2:] if m["role"] != "assistant"],
            }
        )
    package = "skyrl" if skyrl04 else "skyrl-train"
    result = {"known": known, "scenarios": scenarios, "episodes": episodes, "tau2": tau2, "skyrl": version(package)}
    result["eval"] = evaluation
    (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), skyrl04="--skyrl04" in sys.argv[2:])
