"""A tool is a class with two static methods: ``invoke(data, **kwargs) -> str`` and ``get_info()``."""

from typing import Any


class Tool:
    @staticmethod
    def invoke(*args: Any, **kwargs: Any) -> str:
        raise NotImplementedError

    @staticmethod
    def get_info() -> dict[str, Any]:
        raise NotImplementedError
