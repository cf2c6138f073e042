"""An inference engine for skyrl-train 0.3.1 that answers with a scripted policy instead of a model.

It stands exactly where vLLM's engine stands: it implements skyrl-train's ``InferenceEngineInterface``
and is handed to its ``InferenceEngineClient``. Token in, token out: it decodes the prompt ids the
generator sends (ChatML), asks the policy for the next message, and returns that message's token ids
ended by eos, as vLLM does; a message longer than ``max_tokens`` is cut there (stop reason
``length``). Everything a GPU run does around the model (chat template, observation tokens, masks,
rewards, the env pool) stays skyrl-train's own code.
"""

from __future__ import annotations

from typing import Any

from skyrl_train.inference_engines.base import InferenceEngineInput, InferenceEngineInterface, InferenceEngineOutput

from taurl.skyrl.policies import Policy, engine_reply


class PolicyEngine(InferenceEngineInterface):
    def __init__(self, policy: Policy, tokenizer: Any):
        self.policy = policy
        self.tokenizer = tokenizer

    async def generate(self, input_batch: InferenceEngineInput) -> InferenceEngineOutput:
        if input_batch.get("prompt_token_ids") is None:
            raise ValueError("the generator sends token ids (token-in-token-out); got text prompts")
        max_tokens = (input_batch.get("sampling_params") or {}).get("max_tokens")
        responses, response_ids, stop_reasons = [], [], []
        for prompt_ids in input_batch["prompt_token_ids"]:
            text, ids, stop = engine_reply(self.policy, self.tokenizer, prompt_ids, max_tokens)
            responses.append(text)
            response_ids.append(ids)
            stop_reasons.append(stop)
        return InferenceEngineOutput(
            responses=responses, response_ids=response_ids, stop_reasons=stop_reasons, response_logprobs=None
        )

    async def chat_completion(self, request_payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("the generator's token-in-token-out path uses generate()")

    async def completion(self, request_payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("the generator's token-in-token-out path uses generate()")

    # no weights, no GPU memory: the trainer's lifecycle calls have nothing to do
    async def wake_up(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def sleep(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def init_weight_update_communicator(self, init_info: Any) -> None:
        return None

    async def update_named_weights(self, request: Any) -> None:
        return None

    async def teardown(self) -> None:
        return None

    async def reset_prefix_cache(self) -> None:
        return None

    async def abort_generation(self) -> None:
        return None

    def tp_size(self) -> int:
        return 1

    def pp_size(self) -> int:
        return 1

    def dp_size(self) -> int:
        return 1
