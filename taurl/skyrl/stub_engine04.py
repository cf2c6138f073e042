"""SkyRL 0.4.0's counterpart of :mod:`taurl.skyrl.stub_engine`: a scripted policy where vLLM's engine stands.

It implements 0.4.0's ``InferenceEngineInterface`` (``skyrl.backends.skyrl_train.inference_servers``) and
is handed straight to its ``SkyRLGymGenerator``. Token in, token out, as the 0.3.1 stub
(:func:`taurl.skyrl.policies.engine_reply`); 0.4.0's generator also checks per-token logprobs, so each
response token gets logprob 0.0 (the policy is deterministic). Needs the ``skyrl04`` extra's CPU side.
"""

from typing import Any

from skyrl.backends.skyrl_train.inference_servers.base import InferenceEngineInterface

from taurl.skyrl.policies import Policy, engine_reply


class PolicyEngine04(InferenceEngineInterface):
    def __init__(self, policy: Policy, tokenizer: Any):
        self.policy = policy
        self.tokenizer = tokenizer

    @property
    def model_name(self) -> str:
        return "taurl-policy-stub"

    async def generate(self, input_batch: Any, model: Any = None) -> dict[str, Any]:
        if input_batch.get("prompt_token_ids") is None:
            raise ValueError("the generator sends token ids (token-in-token-out); got text prompts")
        max_tokens = (input_batch.get("sampling_params") or {}).get("max_tokens")
        responses, response_ids, stop_reasons = [], [], []
        for prompt_ids in input_batch["prompt_token_ids"]:
            text, ids, stop = engine_reply(self.policy, self.tokenizer, prompt_ids, max_tokens)
            responses.append(text)
            response_ids.append(ids)
            stop_reasons.append(stop)
        return {
            "responses": responses,
            "response_ids": response_ids,
            "stop_reasons": stop_reasons,
            "response_logprobs": [[0.0] * len(ids) for ids in response_ids],
            "prompt_logprobs": None,
            "rollout_expert_indices": None,
            "rollout_sample_support": None,
        }

    def get_endpoint_url(self) -> str:
        return "http://taurl-policy-stub"

    async def chat_completion(self, request_payload: Any) -> Any:
        raise NotImplementedError("the generator's token-in-token-out path uses generate()")

    async def render_chat_completion(self, request_payload: Any) -> Any:
        raise NotImplementedError("the generator's token-in-token-out path uses generate()")

    async def completion(self, request_payload: Any) -> Any:
        raise NotImplementedError("the generator's token-in-token-out path uses generate()")

    # no weights, no GPU memory, no sessions: the trainer's lifecycle calls have nothing to do
    async def wake_up(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def sleep(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def update_named_weights(self, request: Any) -> None:
        return None

    async def load_lora_adapter(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def teardown(self) -> None:
        return None

    async def reset_prefix_cache(self, reset_running_requests: bool = False) -> None:
        return None

    async def pause_generation(self) -> None:
        return None

    async def resume_generation(self) -> None:
        return None

    async def finish_session(self, session_id: Any) -> None:
        return None

    async def get_world_size(self) -> tuple[int, int]:
        return (1, 1)
