"""Scripts the tests run inside other environments (.venv-skyrl, .venv-train, .venv-skyrl04*, .venv-tinker), each
with that environment's python: they import only what is installed there and print or write their results."""
