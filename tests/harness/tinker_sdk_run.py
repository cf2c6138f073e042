"""Drive a running local Tinker server through the real ``tinker`` SDK (run in .venv-tinker by
tests/test_tinker_server.py): one LoRA training client; sample; one importance-sampling step with zero
advantages, then one with advantage +1 on the sampled tokens; a new sampler after each step and the
logprobs it gives the same sequences. Prints what it saw as JSON.

    python tests/harness/tinker_sdk_run.py BASE_URL BASE_MODEL
"""

from __future__ import annotations

import json
import sys

import tinker
from tinker import types

from taurl.tinker.server import LOCAL_API_KEY

NUM_SAMPLES = 4
MAX_TOKENS = 6
LEARNING_RATE = 0.02


def sequence_logprobs(sampler, sequences: list[list[int]]) -> list[list[float | None]]:
    futures = [sampler.compute_logprobs(types.ModelInput.from_ints(tokens)) for tokens in sequences]
    return [future.result() for future in futures]


def importance_sampling_data(prompt: list[int], samples, advantage: float) -> list[types.Datum]:
    """One datum per sample: inputs are the tokens but the last, targets the tokens but the first; the loss
    counts only completion positions, with the sampler's logprobs and one advantage."""
    data = []
    for sample in samples:
        tokens = prompt + list(sample.tokens)
        prompt_positions = len(prompt) - 1
        completion = len(sample.tokens)
        data.append(
            types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={
                    "target_tokens": tokens[1:],
                    "weights": [0.0] * prompt_positions + [1.0] * completion,
                    "logprobs": [0.0] * prompt_positions + list(sample.logprobs),
                    "advantages": [0.0] * prompt_positions + [advantage] * completion,
                },
            )
        )
    return data


def train_step(training, prompt: list[int], samples, advantage: float) -> dict:
    result = training.forward_backward(
        importance_sampling_data(prompt, samples, advantage), loss_fn="importance_sampling"
    ).result()
    optim = training.optim_step(types.AdamParams(learning_rate=LEARNING_RATE)).result()
    return {
        "metrics": result.metrics,
        "elementwise_loss": [output["elementwise_loss"].tolist() for output in result.loss_fn_outputs],
        "learner_logprobs": [output["logprobs"].tolist() for output in result.loss_fn_outputs],
        "optim_metrics": optim.metrics or {},
    }


def main(base_url: str, base_model: str) -> None:
    service = tinker.ServiceClient(base_url=base_url, api_key=LOCAL_API_KEY)
    capabilities = service.get_server_capabilities()
    training = service.create_lora_training_client(base_model=base_model, rank=8, seed=0)
    tokenizer = training.get_tokenizer()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Book a flight to Boston."}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
    prompt = tokenizer.encode(text, add_special_tokens=False)

    sampler = training.save_weights_and_get_sampling_client()
    response = sampler.sample(
        prompt=types.ModelInput.from_ints(prompt),
        num_samples=NUM_SAMPLES,
        sampling_params=types.SamplingParams(max_tokens=MAX_TOKENS, temperature=1.0, seed=7),
    ).result()
    samples = response.sequences
    sequences = [prompt + list(sample.tokens) for sample in samples]
    before = sequence_logprobs(sampler, sequences)

    zero_step = train_step(training, prompt, samples, advantage=0.0)
    after_zero = sequence_logprobs(training.save_weights_and_get_sampling_client(), sequences)
    plus_step = train_step(training, prompt, samples, advantage=1.0)
    after_plus = sequence_logprobs(training.save_weights_and_get_sampling_client(), sequences)

    json.dump(
        {
            "models": [model.model_name for model in capabilities.supported_models],
            "vocab": len(tokenizer),
            "prompt": prompt,
            "prompt_text": text,
            "samples": [
                {"tokens": list(s.tokens), "logprobs": list(s.logprobs), "stop": str(s.stop_reason)} for s in samples
            ],
            "logprobs_before": before,
            "zero_step": zero_step,
            "logprobs_after_zero_step": after_zero,
            "plus_step": plus_step,
            "logprobs_after_plus_step": after_plus,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
