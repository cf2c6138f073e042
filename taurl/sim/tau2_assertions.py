"""sim-judge answering τ²-bench's own NL-assertion prompt, so τ²'s evaluator can be pointed at serve-sim.

τ²'s ``NLAssertionsEvaluator`` sends a system prompt asking for ``{"results": [{"expectedOutcome",
"reasoning", "metExpectation"}]}`` and a user message ``conversation: ... expectedOutcomes: [...]``
(the assertions as a Python list). sim-judge recognises that request and answers it in τ²'s format
with the same rule it applies to taurl's judge prompt (:func:`taurl.sim.keywords.assertion_holds`: the
assertion's key words are all in the conversation), so the two evaluators can be compared on the
same trajectories with the same judge. Anything else is not τ²'s request (None).
"""

from __future__ import annotations

import ast
import json

from taurl.sim.keywords import assertion_holds

CONVERSATION = "conversation:"
OUTCOMES = "expectedOutcomes:"


def tau2_assertions(text: str) -> tuple[str, list[str]] | None:
    """(conversation, assertions) of τ²'s NL-assertion user message, or None if it is not one."""
    head, found, tail = text.rpartition(OUTCOMES)
    if not found or CONVERSATION not in head:
        return None
    try:
        assertions = ast.literal_eval(tail.strip())
    except (ValueError, SyntaxError):
        return None
    if not isinstance(assertions, list) or not all(isinstance(a, str) for a in assertions):
        return None
    return head.partition(CONVERSATION)[2].strip(), assertions


def tau2_verdicts(text: str) -> str | None:
    """sim-judge's answer to τ²'s NL-assertion prompt, in τ²'s JSON format; None for other prompts."""
    parsed = tau2_assertions(text)
    if parsed is None:
        return None
    conversation, assertions = parsed
    results = [
        {"expectedOutcome": a, "reasoning": "rule: key words", "metExpectation": assertion_holds(a, conversation)}
        for a in assertions
    ]
    return json.dumps({"results": results})
