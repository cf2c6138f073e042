"""The package's records, as pydantic models (τ-bench's field names)."""

from typing import Any

from pydantic import BaseModel

RESPOND_ACTION_NAME = "respond"


class Action(BaseModel):
    name: str
    kwargs: dict[str, Any]


class Task(BaseModel):
    user_id: str
    actions: list[Action]
    instruction: str
    outputs: list[str]


class RewardResult(BaseModel):
    reward: float
    data_hash: str
    gold_data_hash: str
    outputs: dict[str, bool]
