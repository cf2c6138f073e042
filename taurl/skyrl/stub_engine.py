"""An inference engine that answers with a scripted policy instead of a model, for either SkyRL version.

It stands exactly where vLLM's engine stands: token in, token out, it decodes the prompt ids the generator
sends (ChatML), asks the policy for the next message, and returns that message's token ids ended by eos, as
vLLM does; a message longer than ``max_tokens`` is cut there (stop reason ``length``). Everything a GPU run
does around the model (chat template, observation tokens, masks, rewards, the env pool) stays SkyRL's own
code. :class:`PolicyEngine` is what both versions share; each version's adapter (taurl.skyrl.skyrl031,
taurl.skyrl.skyrl040) subclasses it with that version's ``InferenceEngineInterface`` and the methods only it
has. Imports no SkyRL package.
"""

from __future__ import annotations

from typing import Any

from taurl.skyrl.policies import Policy, engine_reply

TEXT_PROMPTS = "the generator's token-in-token-out path uses generate()"


class PolicyEngine:
    def __init__(self, policy: Policy, tokenizer: Any):
        self.policy = policy
        self.tokenizer = tokenizer

    def replies(self, input_batch: Any) -> dict[str, list[Any]]:
        """The policy's answer to each prompt of the batch: ``responses``, ``response_ids``, ``stop_reasons``."""
        if input_batch.get("prompt_token_ids") is None:
            raise ValueError("the generator sends token ids (token-in-token-out); got text prompts")
        max_tokens = (input_batch.get("sampling_params") or {}).get("max_tokens")
        responses, response_ids, stop_reasons = [], [], []
        for prompt_ids in input_batch["prompt_token_ids"]:
            text, ids, stop = engine_reply(self.policy, self.tokenizer, prompt_ids, max_tokens)
            responses.append(text)
            response_ids.append(ids)
            stop_reasons.append(stop)
        return {"responses": responses, "response_ids": response_ids, "stop_reasons": stop_reasons}

    async def chat_completion(self, request_payload: Any) -> Any:
        raise NotImplementedError(TEXT_PROMPTS)

    async def completion(self, request_payload: Any) -> Any:
        raise NotImplementedError(TEXT_PROMPTS)

    # no weights, no GPU memory: the trainer's lifecycle calls have nothing to do
    async def wake_up(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def sleep(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def update_named_weights(self, request: Any) -> None:
        return None

    async def teardown(self) -> None:
        return None

    async def reset_prefix_cache(self, *args: Any, **kwargs: Any) -> None:
        return None
