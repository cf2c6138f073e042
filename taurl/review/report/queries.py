"""Every number of the report, as SQL over the recording views (:meth:`RecordingStore.query`).

The queries read one temporary view, ``scored`` (:func:`create_scored_view`), so that success, the
reward components and the episodes left out are decided once for the whole page.
"""

from __future__ import annotations

from typing import Any

from taurl.record.predicates import finished_sql, passed_sql, unfinished_sql
from taurl.record.store import RecordingStore

TOP_ACTIONS = 10  # first missed gold actions shown per run
TOOLS_SHOWN = 40  # tools shown per run

# One temporary view that every query reads: success is the episodes view's passed (taurl.core.reward.passed:
# the reward within 1e-6 of 1), and the three reward components are judged from the breakdown whatever the basis. An
# episode that did not finish (errored, interrupted, truncated) scores 0 and counts as failed, as τ-bench
# counts it, unless the report excludes them (τ²'s "infrastructure errors excluded").
SCORED_VIEW = f"""
CREATE OR REPLACE TEMP VIEW scored AS
SELECT *,
    passed AS success,
    {unfinished_sql()} AS unfinished,
    coalesce(NOT db_match, false) AS db_failed,
    coalesce(json_array_length(breakdown_json, '$.outputs_missing') > 0, false) AS outputs_failed,
    coalesce(json_array_length(breakdown_json, '$.actions_missing') > 0, false) AS actions_failed
FROM episodes
WHERE {{where}}
"""

STEP_COLUMNS = (
    "run_id, step, reward_mean, reward_std, pass_rate, groups, groups_zero_signal, errored, trajectories, loss, "
    "grad_norm, agent_tokens, tokens, seconds_total, eval_pass_1, eval_trials, eval_pass_k"
)


class ReportError(ValueError):
    """A report that cannot be made: says why and what to do."""


Row = dict[str, Any]


def rows(store: RecordingStore, sql: str, params: list[Any] | None = None) -> list[Row]:
    columns, values = store.query(sql, params)
    return [dict(zip(columns, row, strict=True)) for row in values]


def create_scored_view(store: RecordingStore, exclude_errors: bool) -> None:
    where = finished_sql() if exclude_errors else "TRUE"
    store.connect().execute(SCORED_VIEW.format(where=where))


def run_ids(store: RecordingStore) -> list[str]:
    return [r["run_id"] for r in rows(store, "SELECT DISTINCT run_id FROM scored ORDER BY run_id")]


def runs(store: RecordingStore) -> list[Row]:
    """Per run: who played it, where, recorded by which taurl, and when."""
    return rows(
        store,
        """
        SELECT s.run_id, any_value(s.agent) AS agent, any_value(s.user_strategy) AS user_strategy,
               string_agg(DISTINCT s.domain, ', ' ORDER BY s.domain) AS domains, count(*) AS episodes,
               any_value(s.agent_model) AS agent_model, any_value(s.user_model) AS user_model,
               any_value(r.taurl_version) AS taurl_version, min(s.started_at) AS started_at,
               max(s.finished_at) AS finished_at,
               date_diff('millisecond', min(s.started_at), max(s.finished_at)) AS duration_ms,
               avg(s.duration_ms) AS episode_ms
        FROM scored s LEFT JOIN runs r USING (run_id) GROUP BY s.run_id ORDER BY s.run_id
        """,
    )


def outcomes(store: RecordingStore, by_domain: bool) -> list[Row]:
    """Episodes, mean reward, db-match rate and per-task trial counts, per run (and domain)."""
    keys = "run_id, domain" if by_domain else "run_id"
    return rows(
        store,
        f"""
        WITH per_task AS (
            SELECT run_id, domain, task_id, count(*) AS n, count(*) FILTER (WHERE success) AS c,
                   sum(reward) AS r
            FROM scored GROUP BY run_id, domain, task_id
        ), per_group AS (
            SELECT {keys}, list(struct_pack(n := n, c := c, r := r) ORDER BY domain, task_id) AS tasks,
                   min(n) AS min_trials, max(n) AS max_trials
            FROM per_task GROUP BY {keys}
        )
        SELECT {keys}, count(*) AS episodes, count(DISTINCT (domain, task_id)) AS tasks_run,
               avg(reward) AS mean_reward, avg(coalesce(db_match, false)::DOUBLE) AS db_match_rate,
               count(*) FILTER (WHERE NOT success) AS failed,
               avg(turns) AS mean_turns, avg(n_tool_calls) AS mean_tool_calls,
               any_value(per_group.tasks) AS tasks, any_value(min_trials) AS min_trials,
               any_value(max_trials) AS max_trials
        FROM scored JOIN per_group USING ({keys})
        GROUP BY {keys} ORDER BY {keys}
        """,
    )


def costs(store: RecordingStore) -> dict[str, Row]:
    """Per run: model calls, cache hits, the simulated user's calls and tokens, and what both sides cost."""
    found = rows(
        store,
        """
        WITH calls AS (
            SELECT run_id, count(*) AS model_calls, avg(cache_hit::DOUBLE) AS cache_hit_rate,
                   count(*) FILTER (WHERE starts_with(namespace, 'user')) AS user_calls,
                   sum(prompt_tokens) FILTER (WHERE starts_with(namespace, 'user')) AS user_prompt_tokens,
                   sum(completion_tokens) FILTER (WHERE starts_with(namespace, 'user')) AS user_completion_tokens
            FROM model_calls GROUP BY run_id
        ), spent AS (
            SELECT run_id, sum(user_cost_usd) AS user_cost_usd, sum(agent_cost_usd) AS agent_cost_usd
            FROM scored GROUP BY run_id
        )
        SELECT spent.*, coalesce(calls.model_calls, 0) AS model_calls, calls.cache_hit_rate,
               coalesce(calls.user_calls, 0) AS user_calls, calls.user_prompt_tokens,
               calls.user_completion_tokens
        FROM spent LEFT JOIN calls USING (run_id) ORDER BY run_id
        """,
    )
    return {r["run_id"]: r for r in found}


def reward_bins(store: RecordingStore) -> list[Row]:
    """Episodes per run and reward bin (ten of width 0.1; a reward of 1 falls in the last)."""
    return rows(
        store,
        """
        SELECT run_id, least(floor(reward * 10), 9)::INTEGER AS bin, count(*) AS episodes
        FROM scored GROUP BY ALL ORDER BY run_id, bin
        """,
    )


def length_stats(store: RecordingStore) -> list[Row]:
    """Per run: the box-plot statistics of assistant turns and tool calls per episode."""
    return rows(
        store,
        """
        SELECT run_id,
               min(turns) AS turns_min, max(turns) AS turns_max, avg(turns) AS turns_mean,
               quantile_cont(turns, [0.25, 0.5, 0.75]) AS turns_q,
               min(n_tool_calls) AS tool_calls_min, max(n_tool_calls) AS tool_calls_max,
               avg(n_tool_calls) AS tool_calls_mean, quantile_cont(n_tool_calls, [0.25, 0.5, 0.75]) AS tool_calls_q
        FROM scored GROUP BY run_id ORDER BY run_id
        """,
    )


def failure_causes(store: RecordingStore) -> list[Row]:
    """Per run: failed episodes by the reward component that did not hold (an episode can fail several)."""
    return rows(
        store,
        """
        SELECT run_id, count(*) AS episodes, count(*) FILTER (WHERE NOT success) AS failed,
               count(*) FILTER (WHERE NOT success AND db_failed) AS db_mismatch,
               count(*) FILTER (WHERE NOT success AND outputs_failed) AS outputs_missing,
               count(*) FILTER (WHERE NOT success AND actions_failed) AS actions_incomplete,
               count(*) FILTER (WHERE unfinished) AS unfinished,
               count(*) FILTER (
                   WHERE NOT success AND NOT (unfinished OR db_failed OR outputs_failed OR actions_failed)
               ) AS other
        FROM scored GROUP BY run_id ORDER BY run_id
        """,
    )


def endings(store: RecordingStore) -> list[Row]:
    """Per run and way an episode ended: episodes, and how many of them failed."""
    return rows(
        store,
        """
        SELECT run_id, terminated_by, count(*) AS episodes, count(*) FILTER (WHERE NOT success) AS failed
        FROM scored GROUP BY ALL ORDER BY run_id, episodes DESC, terminated_by
        """,
    )


def first_wrong_actions(store: RecordingStore) -> list[Row]:
    """Per run, the :data:`TOP_ACTIONS` tools most often the first gold action a failed episode missed,
    with one example call."""
    return rows(
        store,
        f"""
        WITH missed AS (
            SELECT run_id, domain, task_id,
                list_filter(CAST(json_extract(task_json, '$.actions') AS JSON[]),
                            lambda a: json_extract_string(a, '$.name') <> 'respond')
                    [list_min(CAST(json_extract(breakdown_json, '$.actions_missing') AS INTEGER[])) + 1] AS action
            FROM scored WHERE NOT success AND actions_failed
        ), counted AS (
            SELECT run_id, json_extract_string(action, '$.name') AS tool, count(*) AS episodes,
                   count(DISTINCT (domain, task_id)) AS tasks,
                   arg_min(action::VARCHAR, (domain, task_id)) AS example,
                   min(domain || '/' || task_id) AS example_task
            FROM missed GROUP BY ALL
        )
        SELECT * FROM counted
        QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY episodes DESC, tool) <= {TOP_ACTIONS}
        ORDER BY run_id, episodes DESC, tool
        """,
    )


def tool_calls(store: RecordingStore) -> list[Row]:
    """Per run, the agent's :data:`TOOLS_SHOWN` most called tools with their calls that failed, by kind."""
    return rows(
        store,
        f"""
        SELECT s.run_id, CASE WHEN st.name = '__parse_error__' THEN '(unparseable reply)' ELSE st.name END AS tool,
               count(*) AS calls,
               count(*) FILTER (WHERE st.error = 'bad_arguments') AS bad_arguments,
               count(*) FILTER (WHERE st.error = 'unknown_tool') AS unknown_tool,
               count(*) FILTER (WHERE st.error IN ('tool_error', 'tool_exception')) AS tool_errors,
               count(*) FILTER (WHERE st.error = 'parse_error') AS parse_errors,
               count(*) FILTER (WHERE st.error IS NOT NULL) AS errors
        FROM steps st JOIN scored s USING (episode_id)
        WHERE st.name <> 'respond' AND st.requestor IS NULL  -- the agent's (not a τ² user's own calls)
        GROUP BY s.run_id, tool
        QUALIFY row_number() OVER (PARTITION BY s.run_id ORDER BY calls DESC, tool) <= {TOOLS_SHOWN}
        ORDER BY s.run_id, calls DESC, tool
        """,
    )


def rescores(store: RecordingStore) -> list[Row]:
    """Per run and rescore (fault attributions left out): recorded against rescored rewards."""
    return rows(
        store,
        f"""
        SELECT s.run_id, r.rescore_id, string_agg(DISTINCT r.reward_basis, ', ') AS bases, count(*) AS episodes,
               avg(s.reward) AS original, avg(r.reward) AS rescored,
               count(*) FILTER (WHERE s.success) AS passed_original,
               count(*) FILTER (WHERE {passed_sql("r.reward")}) AS passed_rescored,
               count(*) FILTER (WHERE abs(r.reward - s.reward) > 1e-9) AS changed
        FROM (SELECT DISTINCT episode_id, rescore_id, reward, reward_basis FROM rescores
              WHERE rescore_id NOT LIKE 'faults-%') r
            JOIN scored s USING (episode_id)
        GROUP BY ALL ORDER BY s.run_id, r.rescore_id
        """,
    )


def faults(store: RecordingStore) -> list[Row]:
    """Per run: failed episodes by whose fault a judge found each was (``taurl judge --rubric faults``)."""
    return rows(
        store,
        """
        SELECT s.run_id, json_extract_string(r.breakdown_json, '$.category') AS category,
               json_extract_string(r.breakdown_json, '$.kind') AS kind, count(DISTINCT s.episode_id) AS episodes
        FROM rescores r JOIN scored s USING (episode_id)
        WHERE r.rescore_id LIKE 'faults-%' AND NOT s.success
        GROUP BY ALL ORDER BY 1, 4 DESC, 2, 3
        """,
    )


def failed_per_run(store: RecordingStore) -> dict[str, int]:
    found = rows(store, "SELECT run_id, count(*) FILTER (WHERE NOT success) AS failed FROM scored GROUP BY 1")
    return {r["run_id"]: r["failed"] for r in found}


def task_rewards(store: RecordingStore, a: str, b: str) -> list[Row]:
    """Each task's mean reward over its trials, in runs ``a`` and ``b``."""
    return rows(
        store,
        """
        SELECT run_id, domain, task_id, avg(reward) AS mean_reward FROM scored
        WHERE run_id IN ($1, $2) GROUP BY ALL ORDER BY domain, task_id
        """,
        [a, b],
    )


def changed_tasks(store: RecordingStore, a: str, b: str) -> list[Row]:
    """The tasks whose mean reward differs between runs ``a`` and ``b`` (or that only one ran), largest
    change first, with each run's successful trials."""
    return rows(
        store,
        """
        WITH t AS (
            SELECT run_id, domain, task_id, avg(reward) AS mean_reward,
                   count(*) FILTER (WHERE success) || '/' || count(*) AS passed
            FROM scored WHERE run_id IN ($1, $2) GROUP BY ALL
        )
        SELECT domain, task_id, a.mean_reward AS reward_a, a.passed AS passed_a,
               b.mean_reward AS reward_b, b.passed AS passed_b, b.mean_reward - a.mean_reward AS delta
        FROM (SELECT * FROM t WHERE run_id = $1) a FULL JOIN (SELECT * FROM t WHERE run_id = $2) b
            USING (domain, task_id)
        WHERE a.mean_reward IS NULL OR b.mean_reward IS NULL OR abs(b.mean_reward - a.mean_reward) > 1e-9
        ORDER BY abs(delta) DESC NULLS LAST, domain, task_id
        """,
        [a, b],
    )


def training_steps(store: RecordingStore) -> list[Row]:
    """Every training run's steps (``train_steps``: the latest attempt of each)."""
    return rows(store, f"SELECT {STEP_COLUMNS} FROM train_steps ORDER BY run_id, step")


def episode_rows(store: RecordingStore) -> list[Row]:
    """One row per episode for the explorer's table (errors: failed steps plus the episode's own
    exception; rescored: each rescore's reward, by rescore id)."""
    return rows(
        store,
        """
        WITH errs AS (
            SELECT episode_id, count(*) FILTER (WHERE error IS NOT NULL) AS step_errors FROM steps GROUP BY 1
        ), re AS (
            SELECT episode_id, string_agg(printf('%.3f', reward), ' / ' ORDER BY rescore_id) AS rescored
            FROM (SELECT DISTINCT episode_id, rescore_id, reward FROM rescores) GROUP BY 1
        )
        SELECT s.episode_id, s.run_id, s.domain, s.task_id, s.trial, s.reward, s.terminated_by,
               coalesce(errs.step_errors, 0) + (s.error IS NOT NULL)::INTEGER AS errors,
               coalesce(s.agent_cost_usd, 0) + coalesce(s.user_cost_usd, 0) AS cost, s.turns,
               s.duration_ms / 1000 AS seconds, re.rescored
        FROM scored s LEFT JOIN errs USING (episode_id) LEFT JOIN re USING (episode_id)
        ORDER BY s.run_id, s.domain, s.task_id, s.trial
        """,
    )


def episode_transcripts(store: RecordingStore) -> list[Row]:
    """Every episode's messages, trace, reward breakdown, task, error and rescores, for its transcript."""
    return rows(
        store,
        """
        WITH re AS (
            SELECT episode_id, list([rescore_id, printf('%.3f', reward), reward_basis] ORDER BY rescore_id) AS re
            FROM (SELECT DISTINCT episode_id, rescore_id, reward, reward_basis FROM rescores) GROUP BY 1
        )
        SELECT e.episode_id, e.messages, e.trace, e.breakdown_json, e.task_json, e.error, re.re
        FROM episodes_full e JOIN scored s USING (episode_id) LEFT JOIN re USING (episode_id)
        ORDER BY e.episode_id
        """,
    )
