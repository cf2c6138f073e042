"""The Tinker policy's token bookkeeping with the real Qwen2.5 tokenizer and chat template (run in .venv-tinker
by tests/test_tinker_train.py; prints JSON).

    python tests/harness/tinker_tokens_run.py [REC RUN_ID]
        "scripted": one airline episode through taurl's rollout with the policy sampling from a scripted sampler (the network
        edge: it answers a tool call, then a reply cut at the token limit, then a reply, as token ids): the
        trajectory's tokens, which were sampled, and the template's tokenisation of the recorded conversation.
        "recording" (given REC and RUN_ID): every trajectory of a training run checked against its recorded
        conversation.
"""

from __future__ import annotations

import json
import sys

from taurl.core.domain import UserSimulator
from taurl.core.messages import Message
from taurl.core.types import Action
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.episodes.selection import select_tasks
from taurl.record import codec
from taurl.record.store import RecordingStore
from taurl.skyrl.tokenizer import qwen25_tokenizer
from taurl.tinker.policy import ChatFormat, Sample, TinkerPolicy, TokenTrajectory, trajectory_mismatch

LOGPROB = -0.25


def scripted(chat: ChatFormat) -> dict:
    task = select_tasks("airline", "test")[0]
    call = task.actions[0]
    texts = [
        f'<tool_call>\n{{"name": "{call.name}", "arguments": {json.dumps(call.kwargs)}}}\n</tool_call>',
        "Let me check that for you, one moment please while I look",  # cut at the token limit below
        "Your reservation is confirmed.",
    ]
    seeds: list[int] = []

    def sample(prompt: list[int], seed: int) -> Sample:
        seeds.append(seed)
        ids = chat.encode(texts[len(seeds) - 1])
        if len(seeds) == 2:
            return Sample(ids[:5], [LOGPROB] * 5, stopped=False)
        return Sample([*ids, chat.end_id], [LOGPROB] * (len(ids) + 1), stopped=True)

    class TwoRepliesUser(UserSimulator):
        """Answers the first reply, stops at the second: the user's turns come back as tokens too."""

        def __init__(self):
            self.replies = 0

        def reset(self, task):
            return task.instruction

        def step(self, message: str) -> str:
            self.replies += 1
            return "Thanks, and is it refundable?" if self.replies == 1 else "###STOP###"

    policy = TinkerPolicy(chat, sample, lambda task, turn: 100 + turn)
    result = run_episode(EpisodeSpec(task, 0), policy, TwoRepliesUser(), RolloutConfig())
    t = policy.trajectory
    last = max(i for i, m in enumerate(result.messages) if m["role"] == "assistant")
    text = chat.render(result.messages[: last + 1], generation_prompt=False)
    return {
        "actions": [a.to_dict() for a in result.actions],
        "expected_call": Action(call.name, call.kwargs).to_dict(),
        "messages": result.messages,
        "ids": t.ids,
        "sampled": t.sampled,
        "logprobs": t.logprobs,
        "turns": t.turns,
        "cut_turns": t.cut_turns,
        "seeds": seeds,
        "template_ids": chat.encode(text),
        "newline": chat.encode("\n"),
        "end_id": chat.end_id,
        "mismatch": trajectory_mismatch(chat, result.messages, t),
    }


def recording(chat: ChatFormat, path: str, run_id: str) -> dict:
    """Per trajectory: the sampled runs (content plus a sampled end of turn) are its turns, and
    :func:`trajectory_mismatch` checks tokens against the conversation; the tokens no one sampled must be
    what the tokenizer makes of their own text."""
    store = RecordingStore(path)
    rows = store.episode_rows(f"run_id = '{run_id}'")
    store.close()
    checked = []
    for row in rows:
        ids, mask = row["token_ids"], row["token_mask"]
        runs, start = [], None
        for i, sampled in enumerate([*mask, False]):
            if sampled and start is None:
                start = i
            elif not sampled and start is not None:
                runs.append((start, i))
                start = None
        turns = [(a, b - 1) if ids[b - 1] == chat.end_id else (a, b) for a, b in runs]
        t = TokenTrajectory(list(ids), list(mask), list(row["token_logprobs"]), turns=turns)
        messages: list[Message] = codec.messages(row)
        edges = [0, *[x for r in runs for x in r], len(ids)]
        given = [
            chat.encode(chat.decode(ids[a:b])) == ids[a:b]
            for a, b in zip(edges[::2], edges[1::2], strict=True)
            if a < b
        ]
        checked.append(
            {
                "episode_id": row["episode_id"],
                "mismatch": trajectory_mismatch(chat, messages, t),
                "given_tokens_are_the_tokenizers": all(given),
                "logprobs_where_sampled": all(
                    (lp is not None) == m for lp, m in zip(row["token_logprobs"], mask, strict=True)
                ),
            }
        )
    return {"trajectories": checked}


def main() -> None:
    chat = ChatFormat(qwen25_tokenizer())
    result = {"scripted": scripted(chat)}
    if len(sys.argv) == 3:
        result["recording"] = recording(chat, sys.argv[1], sys.argv[2])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
