import pytest

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry, ToolSchemaError
from taurl.core.types import Action, ToolKind
from tests.counter_domain import make_registry


@pytest.fixture
def tools():
    return make_registry()


@pytest.fixture
def db():
    return Database({"counters": {"a": {"value": 1}, "b": {"value": 5}}})


def test_schema_is_derived_from_signature_and_docstring(tools):
    schema = tools["add"].openai_schema()
    assert schema["function"]["name"] == "add"
    assert schema["function"]["description"] == "Change a counter."
    params = schema["function"]["parameters"]
    assert params["required"] == ["counter_id", "amount"]
    assert params["properties"]["counter_id"] == {"description": "The counter's id.", "type": "string"}
    assert params["properties"]["amount"]["type"] == "integer"
    assert params["properties"]["amount"]["description"] == "The amount to add or set."
    assert params["properties"]["mode"]["enum"] == ["add", "set"]
    items = tools["batch"].parameters["properties"]["steps"]["items"]
    assert items["required"] == ["counter", "amount"]
    assert items["properties"]["amount"] == {"type": "integer", "description": "How much to add."}
    assert tools["batch"].parameters["properties"]["note"] == {"type": "string"}
    assert [t.kind for t in tools] == [
        ToolKind.READ,
        ToolKind.WRITE,
        ToolKind.WRITE,
        ToolKind.WRITE,
        ToolKind.THINK,
        ToolKind.TERMINATE,
    ]


@pytest.mark.parametrize(
    "action, expected",
    [
        (Action("nope", {}), "unknown tool 'nope'. Available tools: get_counter, add"),
        (
            Action("add", {"counter_id": "a"}),
            "missing required argument(s) amount in call to add. "
            "It accepts add(counter_id: string, amount: integer, mode?: string)",
        ),
        (Action("add", {"counter_id": "a", "amount": 1, "extra": 2}), "unexpected argument(s) extra"),
        (Action("add", {"counter_id": "a", "amount": "1"}), "amount must be integer, got string '1'"),
        (Action("add", {"counter_id": "a", "amount": True}), "amount must be integer, got boolean"),
        (Action("add", {"counter_id": "a", "amount": 1, "mode": "mul"}), "mode must be one of ['add', 'set']"),
        (Action("batch", {"steps": [{"counter": "a"}]}), "steps[0] is missing required key 'amount'"),
        (Action("batch", {"steps": {"counter": "a"}}), "steps must be array, got object"),
    ],
)
def test_bad_calls_become_error_observations_and_change_nothing(tools, db, action, expected):
    result = tools.invoke(db, action)
    assert result.observation.startswith("Error: ")
    assert expected in result.observation
    assert result.error in ("unknown_tool", "bad_arguments")
    assert db.touched() == set()


def test_tool_errors_and_exceptions_are_observations(tools, db):
    missing = tools.invoke(db, Action("get_counter", {"counter_id": "zz"}))
    assert (missing.observation, missing.error) == ("Error: counter not found", "tool_error")
    boom = tools.invoke(db, Action("explode", {}))
    assert (boom.observation, boom.error) == ("Error: boom", "tool_exception")


def test_success_returns_the_tool_output(tools, db):
    result = tools.invoke(db, Action("add", {"counter_id": "b", "amount": 2}))
    assert result.ok and result.observation == "7" and result.kind is ToolKind.WRITE
    assert tools.invoke(db, Action("add", {"counter_id": "b", "amount": 0, "mode": "set"})).observation == "0"


def test_arguments_are_copied_so_tools_never_alias_the_callers_action(tools, db):
    steps = [{"counter": "a", "amount": 1}]
    action = Action("batch", {"steps": steps})
    tools.invoke(db, action)
    assert action.kwargs["steps"] is steps and steps == [{"counter": "a", "amount": 1}]


def test_a_tool_without_docstring_or_db_parameter_is_rejected_at_registration():
    registry = ToolRegistry("x")
    with pytest.raises(ToolSchemaError, match="docstring"):

        @registry.read
        def undocumented(db, a: str) -> str:
            return a

    with pytest.raises(ToolSchemaError, match="first parameter"):

        @registry.read
        def no_db(a: str) -> str:
            """Doc."""
            return a


def test_subset_keeps_order_and_rejects_unknown_names(tools):
    assert tools.subset(["think", "add"]).names == ["add", "think"]
    with pytest.raises(KeyError):
        tools.subset(["missing"])


def test_a_refusal_raised_in_a_tool_is_a_clean_error_observation(db):
    from taurl.core.tools import Refusal

    registry = ToolRegistry("x")

    @registry.write
    def close(db: Database, counter_id: str) -> str:
        """Close a counter."""
        if counter_id != "a":
            raise Refusal(f"counter {counter_id} cannot be closed")
        return "closed"

    result = registry.invoke(db, Action("close", {"counter_id": "b"}))
    assert (result.observation, result.error) == ("Error: counter b cannot be closed", "tool_error")
