"""Running episodes: a run's settings, the rollout of one episode, the runner that runs many and records them."""
