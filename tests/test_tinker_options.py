"""The Tinker loop's command line reaches its episodes: spend limits bound the user and judge models' clients."""

from __future__ import annotations

from taurl.cli.common import JudgeModel, ModelCalls
from taurl.cli.train_tinker import TinkerOptions, run_config
from taurl.episodes.config import chat_client
from taurl.llm.client import ClientLimits


def options(calls: ModelCalls) -> TinkerOptions:
    return TinkerOptions(
        "airline", "train", None, [], None, [], None, False, None, "runs/x", None, False, False, False, False,
        "llm", "sim-user", "http://127.0.0.1:9/v1", None, JudgeModel(), 0.0, 4, 0, {}, calls,
    )  # fmt: skip


def test_spend_limits_reach_the_user_models_client(tmp_path):
    limits = ClientLimits(None, None, 20_000, 0.5)
    config = run_config(options(ModelCalls(cache_dir=tmp_path / "cache", max_cost_usd=0.5, max_tokens_budget=20_000)))
    assert config.limits == limits
    assert chat_client(config.user_endpoint, config).limits == limits


def test_train_help_names_the_limits():
    from typer.testing import CliRunner

    from taurl.cli import app

    done = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "--max-cost-usd" in done.output and "--max-tokens-budget" in done.output


def test_a_local_checkpoint_is_named_whole_for_the_local_server(tmp_path, monkeypatch):
    """The local server runs inside its work directory: a checkpoint named relative to where the user stands
    reaches it (and the SDK) as an absolute path."""
    from typer.testing import CliRunner

    import taurl.cli.train_tinker
    from taurl.cli import app

    seen = []
    monkeypatch.setattr(taurl.cli.train_tinker, "train_tinker", lambda settings, options: seen.append(settings))
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for serve_local, expected in ((["--serve-local"], str(tmp_path / "runs" / "tiny")), ([], "runs/tiny")):
        done = CliRunner().invoke(app, ["train", "--backend", "tinker", "--base-model", "runs/tiny", *serve_local])
        assert done.exit_code == 0, done.output
        assert seen.pop().base_model == expected
