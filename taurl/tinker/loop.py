"""The training loop of ``taurl train --backend tinker``: group-relative RL through the Tinker API.

Each step takes B tasks (:func:`~taurl.tinker.batches.step_tasks`) and plays G episodes of each through
taurl's own rollout (:func:`taurl.episodes.rollout.run_episodes`): the policy is a :class:`TinkerPolicy` sampling
from the step's sampler, the user any configured simulator (through the response cache), the reward
taurl's. Every trajectory is recorded as an episode of the run, with its step, group, sampler version,
token ids, which of them the agent sampled and their log-probabilities, and the advantage it got
(:mod:`~taurl.tinker.advantages`); then ``forward_backward`` and ``optim_step`` update the weights, the
state is checkpointed (``save_state``), a new sampler is made from the new weights, the held-out split is
evaluated when due, and the step's ``train_steps`` row is written last.

Resume: the last step whose row names a checkpoint is where a resumed run restarts (a fresh training
client loads that state, optimizer included). A later step whose trajectories are already recorded is
trained on them as recorded (never sampled twice); one whose trajectories are not recorded is sampled
again. So no update is applied twice to the weights, and every trajectory is in the recording once. One
process at a time trains a run id (the recording's run lock, as ``taurl run``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.core.hashing import canonical_json
from taurl.core.messages import Message
from taurl.core.reward import passed
from taurl.core.types import EpisodeResult, Task, TerminatedBy
from taurl.episodes.config import RunConfig, build_user
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, RunControl, pass_hat_k, run_episodes
from taurl.episodes.runner import RunExistsError, recorded_attempts
from taurl.llm.client import BudgetExceededError
from taurl.record.location import resolve
from taurl.record.lock import RecordingLock
from taurl.record.schema import episode_row
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.tinker.advantages import Estimator, group_advantages
from taurl.tinker.batches import sample_seed, step_tasks
from taurl.tinker.policy import AGENT_NAME, ChatFormat, TinkerPolicy, TokenTrajectory, trajectory_mismatch
from taurl.tinker.steps import StepRecord, recorded_steps, write_step
from taurl.tinker.tasks import TrainingTask
from taurl.tinker.update import LOSSES, apply_update, summed_logprobs, tinker_sampler

# what a resumed run may not change: the episodes' configuration and the optimisation
TRAINING_IDENTITY = (
    "base_model", "tasks_per_step", "group_size", "learning_rate", "lora_rank", "loss", "ppo_clip", "advantage",
    "max_tokens", "temperature", "tasks",
)  # fmt: skip


def run_identity(record: dict[str, Any]) -> dict[str, Any]:
    """What of a recorded training run's config decides its trajectories and updates."""

    def model(endpoint: dict[str, Any] | None) -> Any:
        return endpoint and [endpoint.get("model"), endpoint.get("temperature")]

    training = record.get("training") or {}
    return {
        "user": record.get("user"),
        "user model": model(record.get("user_endpoint")),
        "judge": model(record.get("judge_endpoint")),
        "judge weight": record.get("judge_weight"),
        "basis": record.get("basis"),
        "seed": record.get("seed"),
        "max turns": record.get("max_steps"),
        **{name.replace("_", " "): training.get(name) for name in TRAINING_IDENTITY},
    }


class TrainingStopped(RuntimeError):
    """The run was stopped (a signal, a spent budget) before a step was complete: says where to resume."""


@dataclass
class TrainSettings:
    """What the optimisation does; recorded with the run (``training`` in its config)."""

    base_model: str
    steps: int
    tasks_per_step: int = 8  # B
    group_size: int = 8  # G
    learning_rate: float = 4e-5
    lora_rank: int = 32
    loss: str = "importance_sampling"
    ppo_clip: float = 0.2
    advantage: str = "grpo"
    max_tokens: int = 512  # per agent turn
    temperature: float = 1.0
    eval_every: int = 0  # evaluate after every N steps (0: only after the last one)
    eval_trials: int = 1  # trials per task of the final evaluation (pass^k)
    checkpoint_every: int = 1
    measure_update: bool = False  # each trajectory's summed logprob before and after the update

    def validate(self) -> None:
        positive = {
            "--steps": self.steps,
            "--tasks-per-step": self.tasks_per_step,
            "--max-tokens": self.max_tokens,
            "--lora-rank": self.lora_rank,
            "--eval-trials": self.eval_trials,
            "--checkpoint-every": self.checkpoint_every,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.group_size < 2:
            raise ValueError(
                f"--group-size must be at least 2 (advantages compare a task's samples), got {self.group_size}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r}: one of {', '.join(LOSSES)}")
        if self.advantage not in tuple(Estimator):
            raise ValueError(f"--advantage {self.advantage!r}: one of {', '.join(Estimator)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.eval_every < 0:
            raise ValueError(f"--eval-every must be 0 (only at the end) or more, got {self.eval_every}")


@dataclass
class TrainSetup:
    """One training run: the optimisation, the episodes' configuration (user, reward, turns, data, seed,
    cache: ``taurl run``'s :class:`RunConfig`), the tasks, and where it is recorded."""

    settings: TrainSettings
    config: RunConfig
    tasks: list[TrainingTask]
    eval_tasks: list[TrainingTask]
    recording: str | Path
    run_id: str
    resume: bool = False
    durable: bool = False
    unlocked: bool = False
    left_out: list[dict[str, Any]] = field(default_factory=list)  # tasks left out of training, and why

    def run_record(self, eval_run: bool = False) -> dict[str, Any]:
        """The run as recorded: ``taurl run``'s config record (what replay rebuilds episodes from) plus the
        training settings and which tasks it trained on."""
        record = self.config.to_record()
        record["training"] = {
            **dataclasses.asdict(self.settings),
            "tasks": [t.to_record() for t in self.tasks],
            "eval_tasks": [t.to_record() for t in self.eval_tasks],
            "left_out": self.left_out,
            "evaluation": eval_run,
        }
        return record


@dataclass
class Trajectory:
    """One sample of a step: its episode, its tokens, its group and advantage."""

    group: int
    sample: int
    trial: int
    reward: float | None  # None: the episode did not finish, and is left out of its group
    passed: bool
    tokens: TokenTrajectory
    advantage: float | None = None
    episode_id: str | None = None


@dataclass
class TrainSummary:
    run_id: str
    steps: list[dict[str, Any]] = field(default_factory=list)  # the train_steps rows this process wrote
    restarted_from: int = 0  # the checkpointed step a resumed run continued from


def checkpoint_name(run_id: str, step: int) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80] + f"-step{step:06d}"


def eval_run_id(run_id: str, step: int) -> str:
    return f"{run_id}-eval-{step:04d}"


class Trainer:
    def __init__(
        self,
        setup: TrainSetup,
        connect: Callable[[], Any],
        chat: ChatFormat,
        control: RunControl | None = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        say: Callable[[str], None] | None = None,
    ):
        setup.settings.validate()
        if not setup.tasks:
            raise ValueError("no tasks to train on")
        self.setup = setup
        self.settings = setup.settings
        self.connect = connect  # the Tinker service client, made once the recording agrees to the run
        self.chat = chat
        self.control = control or RunControl()
        self.on_step = on_step or (lambda row: None)
        self.say = say or (lambda text: None)
        self.location = resolve(setup.recording)
        self.rollout = RolloutConfig(dict(setup.config.data_dirs), setup.config.max_steps, setup.config.reward_config())
        self.user_model = setup.config.user_endpoint.model if setup.config.user != "scripted" else None
        self.systems = {(t.task.domain, t.task.id): t.system for t in [*setup.tasks, *setup.eval_tasks] if t.system}
        step_tasks(setup.tasks, 1, self.settings.tasks_per_step, self.seed)  # a batch larger than the set fails now

    @property
    def seed(self) -> int:
        return self.setup.config.seed or 0

    # ---------------------------------------------------------------- the run

    def run(self) -> TrainSummary:
        setup = self.setup
        name = "run-" + hashlib.sha256(setup.run_id.encode()).hexdigest()[:16]
        lock = RecordingLock(
            self.location,
            name,
            f"training {setup.run_id}",
            setup.unlocked or not (setup.resume or self.location.is_local),
        )
        lock.acquire()
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> TrainSummary:
        setup, settings = self.setup, self.settings
        known, steps = self._recorded()
        if known and not setup.resume:
            raise RunExistsError(
                f"{self.location.display} already holds run {setup.run_id!r}: add --resume to continue it from its "
                "last checkpoint, or give this run another --run-id"
            )
        if known:
            self._check_same_run()
        summary = TrainSummary(setup.run_id)
        restart = max((s for s, row in steps.items() if row["checkpoint"]), default=0)
        summary.restarted_from = restart
        self.writer = RecordingWriter(setup.recording, flush_every=1 << 30, durable=setup.durable)
        try:
            service = self.connect()
            self.writer.write_run(setup.run_id, setup.run_record())
            self.training = service.create_lora_training_client(
                settings.base_model, rank=settings.lora_rank, seed=self.seed
            )
            if restart:
                self.say(f"resuming after step {restart} from {steps[restart]['checkpoint']}")
                self.training.load_state_with_optimizer(steps[restart]["checkpoint"]).result()
            self.sampler = self.training.save_weights_and_get_sampling_client()
            for step in range(restart + 1, settings.steps + 1):
                if self.control.stopping.is_set():
                    raise TrainingStopped(f"stopped before step {step}: --resume continues from step {step}")
                attempt = steps[step]["attempt"] + 1 if step in steps else 1
                row = self._step(step, attempt)
                summary.steps.append(row)
                self.on_step(row)
        finally:
            self.writer.close()
        return summary

    def _recorded(self) -> tuple[bool, dict[int, dict[str, Any]]]:
        """Whether the recording knows the run, and its completed steps."""
        known, _ = recorded_attempts(self.setup.recording, self.setup.run_id)
        if not Path(self.location.root).exists() and self.location.is_local:
            return known, {}
        store = RecordingStore(self.setup.recording)
        try:
            steps = recorded_steps(store, self.setup.run_id)
        finally:
            store.close()
        return known or bool(steps), steps

    def _check_same_run(self) -> None:
        """A resumed run is the run it resumes: what decides its trajectories and updates is unchanged (its
        length, evaluation, checkpoints and measurements may change)."""
        store = RecordingStore(self.setup.recording)
        try:
            _, found = store.query("SELECT config_json FROM runs WHERE run_id = ?", [self.setup.run_id])
        finally:
            store.close()
        if not found:
            return
        was = run_identity(json.loads(found[0][0]))
        now = run_identity(json.loads(canonical_json(self.setup.run_record())))
        changed = [name for name in now if was[name] != now[name]]
        if changed:
            raise RunExistsError(
                f"run {self.setup.run_id!r} was recorded with other {', '.join(changed)}: --resume continues a run "
                "with its own settings (give this one another --run-id)"
            )

    # ---------------------------------------------------------------- one step

    def _step(self, step: int, attempt: int) -> dict[str, Any]:
        settings = self.settings
        tasks = step_tasks(self.setup.tasks, step, settings.tasks_per_step, self.seed)
        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        trajectories = self._recorded_trajectories(step)
        if trajectories is None:
            trajectories, results = self._sample(step, tasks)
            seconds["sample"] = time.perf_counter() - clock
            clock = time.perf_counter()
            self._advantages(trajectories)
            self._record(step, trajectories, results)
            seconds["record"] = time.perf_counter() - clock
            self._check(step, results, trajectories)
        else:
            self.say(f"step {step}: training on its {len(trajectories)} recorded trajectories")
        trained = [t for t in trajectories if len(t.tokens.ids) > 1 and t.tokens.agent_tokens]
        advantages = [t.advantage or 0.0 for t in trained]
        before = None
        if settings.measure_update:
            clock = time.perf_counter()
            before = summed_logprobs(self.sampler, [t.tokens for t in trained])
            seconds["measure"] = time.perf_counter() - clock
        update = apply_update(
            self.training, [t.tokens for t in trained], advantages, settings.loss, settings.ppo_clip,
            settings.learning_rate,
        )  # fmt: skip
        seconds["forward_backward"], seconds["optim"] = update.seconds_forward_backward, update.seconds_optim
        checkpoint = None
        clock = time.perf_counter()
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            checkpoint = self.training.save_state(checkpoint_name(self.setup.run_id, step)).result().path
            seconds["checkpoint"] = time.perf_counter() - clock
        clock = time.perf_counter()
        self.sampler = self.training.save_weights_and_get_sampling_client()
        seconds["sampler"] = time.perf_counter() - clock
        update_check = None
        if before is not None:
            clock = time.perf_counter()
            after = summed_logprobs(self.sampler, [t.tokens for t in trained])
            seconds["measure"] += time.perf_counter() - clock
            update_check = [
                {"episode_id": t.episode_id, "advantage": a, "logprob_before": b, "logprob_after": f}
                for t, a, b, f in zip(trained, advantages, before, after, strict=True)
            ]
        groups = {t.group for t in trajectories}
        record = StepRecord(
            run_id=self.setup.run_id,
            step=step,
            attempt=attempt,
            tasks=len(tasks),
            trajectories=len(trajectories),
            errored=sum(1 for t in trajectories if t.reward is None),
            groups=len(groups),
            groups_zero_signal=sum(1 for g in groups if not any(t.advantage for t in trajectories if t.group == g)),
            rewards=[t.reward or 0.0 for t in trajectories],
            passed=sum(1 for t in trajectories if t.passed),
            advantages=[t.advantage for t in trajectories if t.advantage is not None],
            learning_rate=settings.learning_rate,
            tokens=sum(len(t.tokens.ids) for t in trained),
            agent_tokens=sum(t.tokens.agent_tokens for t in trained),
            cut_turns=sum(t.tokens.cut_turns for t in trajectories),
            loss=update.loss,
            grad_norm=update.grad_norm,
            seconds=seconds,
            checkpoint=checkpoint,
            update_check=update_check,
        )
        if self.setup.eval_tasks and (
            step == settings.steps or (settings.eval_every and step % settings.eval_every == 0)
        ):
            clock = time.perf_counter()
            self._evaluate(step, record)
            seconds["eval"] = time.perf_counter() - clock
        row = record.row()
        write_step(self.location, row, self.setup.durable)
        return row

    def _policy(self, seed_of_turn: Callable[[Task, int], int]) -> TinkerPolicy:
        sample = tinker_sampler(self.sampler, self.settings.max_tokens, self.settings.temperature, self.chat.end_id)
        return TinkerPolicy(self.chat, sample, seed_of_turn, self._system_of)

    def _system_of(self, task: Task) -> Message | None:
        return self.systems.get((task.domain, task.id))

    def _play(
        self, specs: list[EpisodeSpec], domain_of: Callable[[int], str], agent_of: Callable[[int], Any]
    ) -> list[EpisodeResult]:
        """Every spec's episode, as many at once as a training step plays (the user of a trial built for its
        task's domain); a stopped run (a signal, a spent budget) raises :class:`TrainingStopped`."""
        config = self.setup.config
        results, budget = [], None
        for result in run_episodes(
            specs,
            agent_of,
            lambda trial: build_user(dataclasses.replace(config, domain=domain_of(trial)), trial),
            self.rollout,
            concurrency=min(len(specs), self.settings.tasks_per_step * self.settings.group_size),
            control=self.control,
        ):
            if result.error and result.error.startswith(f"{BudgetExceededError.__name__}:"):
                budget = budget or result.error.partition(": ")[2]
                self.control.stop()  # nothing more can be spent: the running episodes finish, no new one starts
            results.append(result)
        if budget is not None:
            raise TrainingStopped(f"a spend limit was reached ({budget})")
        if len(results) < len(specs) or any(r.terminated_by is TerminatedBy.INTERRUPTED for r in results):
            raise TrainingStopped("the run was stopped while its episodes ran")
        return results

    def _sample(self, step: int, tasks: list[TrainingTask]) -> tuple[list[Trajectory], list[EpisodeResult]]:
        """Play the step's B x G episodes; trial numbers run through the whole run, so every trajectory is
        its own episode of the run (trial ``((step - 1) * B + group) * G + sample``)."""
        b, g = self.settings.tasks_per_step, self.settings.group_size
        first = (step - 1) * b * g
        policies: dict[int, TinkerPolicy] = {}

        def agent_of(trial: int) -> TinkerPolicy:
            group, sample = divmod(trial - first, g)
            policies[trial] = self._policy(
                lambda task, turn: sample_seed(self.seed, "train", step, group, sample, turn)
            )
            return policies[trial]

        specs = [EpisodeSpec(tasks[n // g].task, first + n) for n in range(b * g)]
        try:
            results = self._play(specs, lambda trial: tasks[(trial - first) // g].task.domain, agent_of)
        except TrainingStopped as exc:
            raise TrainingStopped(
                f"{exc}: step {step}'s episodes are not recorded; --resume samples step {step} again"
            ) from None
        results.sort(key=lambda r: r.trial)
        trajectories = []
        for result in results:
            group, sample = divmod(result.trial - first, g)
            tokens = policies[result.trial].trajectory if result.trial in policies else TokenTrajectory()
            finished = result.terminated_by.finished
            trajectories.append(
                Trajectory(
                    group, sample, result.trial, result.reward if finished else None,
                    finished and passed(result.reward), tokens,
                )
            )  # fmt: skip
        return trajectories, results

    def _advantages(self, trajectories: list[Trajectory]) -> None:
        for group in sorted({t.group for t in trajectories}):
            members = [t for t in trajectories if t.group == group]
            found = group_advantages([t.reward for t in members], self.settings.advantage)
            for t, advantage in zip(members, found.advantages, strict=True):
                t.advantage = advantage

    def _check(self, step: int, results: list[EpisodeResult], trajectories: list[Trajectory]) -> None:
        """Each finished trajectory's tokens are the chat template over the conversation it recorded."""
        for result, t in zip(results, trajectories, strict=True):
            if result.terminated_by.finished and (problem := trajectory_mismatch(self.chat, result.messages, t.tokens)):
                raise RuntimeError(
                    f"step {step}, task {result.task.domain}/{result.task.id}, sample {t.sample}: the trajectory's "
                    f"tokens are not the chat template over its conversation ({problem}); it is recorded, not trained on"
                )

    def _record(self, step: int, trajectories: list[Trajectory], results: list[EpisodeResult]) -> None:
        """The step's episodes, with their training fields, as one segment, before the update uses them."""
        config = self.setup.config
        _, attempts = recorded_attempts(self.setup.recording, self.setup.run_id)
        for t, result in zip(trajectories, results, strict=True):
            previous = attempts.get((result.task.domain, result.task.id, result.trial), (0, False))[0]
            row = episode_row(
                result,
                self.setup.run_id,
                AGENT_NAME,
                config.user,
                attempt=previous + 1,
                agent_model=self.settings.base_model,
                user_model=self.user_model,
            )
            t.episode_id = row["episode_id"]
            row.update(
                train_step=step,
                train_group=t.group,
                sampler_version=step - 1,
                advantage=t.advantage,
                token_ids=t.tokens.ids,
                token_mask=t.tokens.sampled,
                token_logprobs=t.tokens.logprobs,
            )
            self.writer.add(row)
        self.writer.flush()

    def _recorded_trajectories(self, step: int) -> list[Trajectory] | None:
        """The step's trajectories when the recording holds all of them (a resumed run), else None."""
        store = RecordingStore(self.setup.recording)
        try:
            columns, rows = store.query(
                "SELECT episode_id, trial, train_group, reward, terminated_by, advantage, token_ids, token_mask, "
                "token_logprobs FROM trajectories WHERE run_id = ? AND train_step = ? ORDER BY trial",
                [self.setup.run_id, step],
            )
        finally:
            store.close()
        expected = self.settings.tasks_per_step * self.settings.group_size
        if len(rows) != expected:
            return None
        first = (step - 1) * expected
        trajectories = []
        for values in rows:
            r = dict(zip(columns, values, strict=True))
            finished = TerminatedBy(r["terminated_by"]).finished
            tokens = TokenTrajectory(
                list(r["token_ids"] or []), list(r["token_mask"] or []), list(r["token_logprobs"] or [])
            )
            trajectories.append(
                Trajectory(
                    r["train_group"], (r["trial"] - first) % self.settings.group_size, r["trial"],
                    r["reward"] if finished else None, finished and passed(r["reward"]), tokens,
                    r["advantage"], r["episode_id"],
                )
            )  # fmt: skip
        return trajectories

    # ---------------------------------------------------------------- evaluation

    def _evaluate(self, step: int, record: StepRecord) -> None:
        """The held-out tasks with the new sampler: once each (pass^1), ``eval_trials`` times after the last
        step (pass^k). Its episodes are the run ``<run id>-eval-<step>``; ones already recorded are kept."""
        trials = self.settings.eval_trials if step == self.settings.steps else 1
        run_id = eval_run_id(self.setup.run_id, step)
        tasks = self.setup.eval_tasks
        known, attempts = recorded_attempts(self.setup.recording, run_id)
        if not known:
            self.writer.write_run(run_id, self.setup.run_record(eval_run=True))
        specs = [
            EpisodeSpec(t.task, trial)
            for t in tasks
            for trial in range(trials)
            if not attempts.get((t.task.domain, t.task.id, trial), (0, False))[1]
        ]
        for domain in sorted({spec.task.domain for spec in specs}):
            # a user is built for a trial before its episode knows the task: one domain at a time
            batch = [spec for spec in specs if spec.task.domain == domain]
            results = self._play(
                batch,
                lambda trial, domain=domain: domain,
                lambda trial: self._policy(
                    lambda task, turn: sample_seed(self.seed, "eval", step, task.domain, task.id, trial, turn)
                ),
            )
            for result in results:
                previous = attempts.get((result.task.domain, result.task.id, result.trial), (0, False))[0]
                row = episode_row(
                    result, run_id, AGENT_NAME, self.setup.config.user, attempt=previous + 1,
                    agent_model=self.settings.base_model, user_model=self.user_model,
                )  # fmt: skip
                row.update(train_step=step, sampler_version=step)
                self.writer.add(row)
        self.writer.flush()
        store = RecordingStore(self.setup.recording)
        try:
            _, rows = store.query(
                "SELECT domain, task_id, count(*) FILTER (WHERE passed), avg(reward) FROM episodes "
                "WHERE run_id = ? AND trial < ? GROUP BY domain, task_id",
                [run_id, trials],
            )
        finally:
            store.close()
        successes = [int(r[2]) for r in rows]
        record.eval_run_id, record.eval_trials = run_id, trials
        record.eval_reward_mean = sum(r[3] for r in rows) / len(rows) if rows else None
        record.eval_pass_1 = pass_hat_k(successes, trials, 1)
        record.eval_pass_k = pass_hat_k(successes, trials, trials)
