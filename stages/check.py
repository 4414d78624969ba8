"""DVC stage `check`: the whole params file against every schema (what `dpe check` runs). It depends on every
key of params.yaml, so a `dvc repro` or `dvc exp run` whose only change is a misspelt or unknown key fails here
instead of reporting the pipeline up to date; every other stage checks the file's top-level keys itself."""

from pipeline.config.params import Params
from pipeline.run.runtime import start


def main(argv=None):
    start(__doc__, Params, argv)


if __name__ == "__main__":
    main()
