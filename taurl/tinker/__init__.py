"""Training against a Tinker-compatible service: a local SkyRL Tinker server (``taurl.tinker.server``) and the
RL loop that drives it through the ``tinker`` SDK. Nothing heavy is imported here."""
