"""One policy update through the Tinker API, and the samplers and measurements around it.

A trajectory becomes one ``Datum``: the model reads its tokens but the last and predicts each next one;
``weights`` is 1 on the tokens the agent sampled and 0 on the prompt, observations and user turns, so
only the agent's tokens count in the loss; ``logprobs`` are the sampler's (the importance ratio's
denominator) and ``advantages`` the trajectory's advantage on each of its agent tokens.
``forward_backward`` accumulates the gradient, ``optim_step`` applies it with Adam. Only this module and
the loop import the ``tinker`` SDK.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taurl.tinker.policy import Sample, TokenTrajectory

LOSSES = ("importance_sampling", "ppo")


def datum_inputs(trajectory: TokenTrajectory, advantage: float) -> tuple[list[int], dict[str, list[float] | list[int]]]:
    """The model input and ``loss_fn_inputs`` of one trajectory, as plain lists."""
    ids = trajectory.ids
    weights = [1.0 if s else 0.0 for s in trajectory.sampled[1:]]
    return ids[:-1], {
        "target_tokens": ids[1:],
        "weights": weights,
        "logprobs": [0.0 if lp is None else lp for lp in trajectory.logprobs[1:]],
        "advantages": [advantage * w for w in weights],
    }


def to_datum(trajectory: TokenTrajectory, advantage: float) -> Any:
    import tinker

    model_input, loss_inputs = datum_inputs(trajectory, advantage)
    return tinker.Datum(model_input=tinker.ModelInput.from_ints(model_input), loss_fn_inputs=loss_inputs)


def loss_config(loss: str, ppo_clip: float) -> dict[str, float] | None:
    """``ppo`` clips the importance ratio to [1 - clip, 1 + clip]; ``importance_sampling`` takes no config."""
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r}: one of {', '.join(LOSSES)}")
    return {"clip_low_threshold": 1 - ppo_clip, "clip_high_threshold": 1 + ppo_clip} if loss == "ppo" else None


@dataclass(frozen=True)
class UpdateResult:
    loss: float | None  # mean over trajectories of the per-token loss averaged over its agent tokens
    grad_norm: float | None  # the global gradient norm before the step, as the service reports it
    seconds_forward_backward: float
    seconds_optim: float


def apply_update(
    training: Any,
    trajectories: Sequence[TokenTrajectory],
    advantages: Sequence[float],
    loss: str,
    ppo_clip: float,
    learning_rate: float,
) -> UpdateResult:
    """forward_backward over every trajectory (a group without signal too: its advantages are 0, and a batch
    of fixed size keeps the service's compiled shapes), then one Adam step."""
    import tinker

    datums = [to_datum(t, a) for t, a in zip(trajectories, advantages, strict=True)]
    start = time.perf_counter()
    output = training.forward_backward(datums, loss, loss_config(loss, ppo_clip)).result()
    middle = time.perf_counter()
    optim = training.optim_step(tinker.AdamParams(learning_rate=learning_rate)).result()
    end = time.perf_counter()
    return UpdateResult(mean_loss(output, datums), grad_norm(optim.metrics or {}), middle - start, end - middle)


def mean_loss(output: Any, datums: Sequence[Any]) -> float | None:
    """The loss the step minimised, from the per-token losses forward_backward returns."""
    per_trajectory = []
    for result, datum in zip(output.loss_fn_outputs, datums, strict=True):
        if "elementwise_loss" not in result:
            break
        losses = result["elementwise_loss"].tolist()
        weights = datum.loss_fn_inputs["weights"].tolist()
        per_trajectory.append(math.fsum(losses) / max(math.fsum(weights), 1.0))
    else:
        return math.fsum(per_trajectory) / len(per_trajectory) if per_trajectory else None
    total = (output.metrics or {}).get("loss:sum")
    return None if total is None else float(total) / max(len(datums), 1)


def grad_norm(metrics: dict[str, float]) -> float | None:
    """The gradient norm among the optimizer step's metrics (SkyRL's server names it ``skyrl.ai/grad_norm``)."""
    found = sorted(k for k in metrics if k.rsplit("/", 1)[-1].split(":")[0] == "grad_norm")
    return float(metrics[found[0]]) if found else None


def tinker_sampler(sampling_client: Any, max_tokens: int, temperature: float, end_id: int):
    """A :class:`~taurl.tinker.policy.Sampler` over a Tinker sampling client: one sample per call, stopping at
    the end-of-turn token."""
    import tinker

    def sample(prompt: list[int], seed: int) -> Sample:
        params = tinker.SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed, stop=[end_id])
        response = sampling_client.sample(tinker.ModelInput.from_ints(prompt), 1, params).result()
        sequence = response.sequences[0]
        tokens = list(sequence.tokens)
        logprobs = sequence.logprobs
        if logprobs is None or len(logprobs) != len(tokens):
            raise RuntimeError(f"the sampler returned {len(tokens)} tokens but no log-probability for each")
        return Sample(tokens, [float(lp) for lp in logprobs], sequence.stop_reason == "stop")

    return sample


def summed_logprobs(sampling_client: Any, trajectories: Sequence[TokenTrajectory]) -> list[float]:
    """Each trajectory's agent tokens' summed log-probability under ``sampling_client``'s weights, by a
    forward pass over the whole sequence. ``compute_logprobs`` has no value for the first token: it gives
    one value fewer than the tokens (SkyRL's server) or a leading None; either way the lists align at
    their ends."""
    import tinker

    futures = [sampling_client.compute_logprobs(tinker.ModelInput.from_ints(t.ids)) for t in trajectories]
    sums = []
    for trajectory, future in zip(trajectories, futures, strict=True):
        values = future.result()
        offset = len(trajectory.ids) - len(values)
        if offset not in (0, 1):
            raise RuntimeError(f"compute_logprobs returned {len(values)} values for {len(trajectory.ids)} tokens")
        sums.append(math.fsum(values[i - offset] for i, sampled in enumerate(trajectory.sampled) if sampled and i > 0))
    return sums
