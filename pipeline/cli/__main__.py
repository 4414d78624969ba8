"""``python -m pipeline.cli``: the ``dpe`` command without its console script."""

from pipeline.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
