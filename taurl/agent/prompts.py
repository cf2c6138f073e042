"""The system prompt of a text-only policy: the domain policy, then the tools in Qwen2.5's own format.

Qwen2.5's chat template, given ``tools=``, renders the system turn as the system message followed by a
``# Tools`` section: one JSON line per tool (the OpenAI tool schema, serialised like transformers'
``tojson``: insertion order, ``", "``/``": "`` separators, non-ASCII kept) inside ``<tools></tools>``,
then the instruction to answer with ``<tool_call>`` JSON. ``system_prompt`` writes that same text into
the system message itself, so a model sampled without native tools (a SkyRL generator, a vLLM server
without a tool parser) sees exactly the prompt it was trained on, and ``taurl.agent.parser`` reads
its answer.
"""

from __future__ import annotations

import json

from taurl.core.tools import ToolRegistry

TURN_RULES = (
    "# Turns\n\n"
    "Each turn, either call one tool or write to the user. Any text you write without a tool call is "
    "sent to the user as your message. Only one tool call per turn is executed: make one call, and its "
    "result comes back to you before you continue."
)

TOOLS_HEADER = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_FOOTER = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)


def system_prompt(policy: str, tools: ToolRegistry) -> str:
    """The policy, the turn rules, and the tools section Qwen2.5's template would append (tools in
    registration order)."""
    lines = "".join(
        "\n" + json.dumps(schema, ensure_ascii=False, separators=(", ", ": ")) for schema in tools.openai_schemas()
    )
    return f"{policy.strip()}\n\n{TURN_RULES}\n\n{TOOLS_HEADER}{lines}{TOOLS_FOOTER}"
