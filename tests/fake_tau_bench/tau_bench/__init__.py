"""A stand-in for the τ-bench package, used only by taurl's tests of the ``tau_bench:<env>`` backend.

It has τ-bench's interface (``envs.get_env``, an ``Env`` with ``data_load_func``, ``tools_map``,
``terminate_tools``, ``wiki``, ``tasks`` and ``calculate_reward``, tool classes with ``invoke`` and
``get_info``, pydantic ``Task``/``Action``, user simulators that call a module-level ``completion``)
and one small environment, ``shop``.
"""
