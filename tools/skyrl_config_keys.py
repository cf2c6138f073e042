"""The key paths of skyrl-train 0.3.1's composed ppo_base_config, one a line: what `taurl train --dry-run` checks
config overrides against where skyrl-train is not installed. Run under a Python that has skyrl-train 0.3.1:

    .venv-train/bin/python tools/skyrl_config_keys.py > taurl/skyrl/config/skyrl_train_0.3.1_keys.txt

(tests/test_skyrl_dry_run.py checks the file against the installed package.)
"""

from pathlib import Path

import skyrl_train
from hydra import compose, initialize_config_dir

from taurl.skyrl.dry_run import key_paths

with initialize_config_dir(config_dir=str(Path(skyrl_train.__file__).parent / "config"), version_base=None):
    print("\n".join(sorted(key_paths(compose(config_name="ppo_base_config")))))
