import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent


def load_data() -> dict[str, Any]:
    return {table: json.loads((FOLDER / f"{table}.json").read_text()) for table in ("items", "users")}
