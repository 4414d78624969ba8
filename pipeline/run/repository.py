"""DVC experiments as data: the commit of a named experiment, and an artifact as it was in any commit, read
from the DVC cache with the workspace untouched. What `dpe compare` and the benchmarks read runs through."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class ExperimentError(LookupError):
    """An experiment or artifact that is not there; the message says what to run instead."""


def exp_commits(name: str, repo: str | Path = ".") -> list[str]:
    """The commits of every experiment called ``name``, on any baseline."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.split()
    return [sha for sha, ref in zip(refs[::2], refs[1::2]) if ref.rsplit("/", 1)[-1] == name]


def exp_commit(name: str, baseline: str = "", repo: str | Path = ".") -> str:
    """The commit of experiment ``name`` (DVC keeps it under refs/exps/<baseline>/<name>), of ``baseline``
    when given (a commit prefix); a plain git revision (HEAD, a branch, a commit) resolves to itself."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.split()
    found = [(sha, ref.split("/")) for sha, ref in zip(refs[::2], refs[1::2])]
    found = [sha for sha, parts in found if parts[-1] == name and (parts[2] + parts[3]).startswith(baseline)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ExperimentError(f"experiment {name!r} exists on {len(found)} baselines; name one (`dvc exp list "
                              "--all-commits`) or pass its commit")
    rev = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], cwd=repo,
                         capture_output=True, text=True)
    if rev.returncode:
        raise ExperimentError(f"no experiment or commit named {name!r} (`dvc exp list --all-commits` lists them)")
    return rev.stdout.strip()


def restore_workspace(repo: str | Path = ".") -> None:
    """HEAD's params, lock, metrics and cached outs: what `dvc exp run` in the workspace leaves behind, undone,
    so the next run (and the user) start from the committed state."""
    subprocess.run(["git", "checkout", "HEAD", "--", "params.yaml", "dvc.lock", "metrics"], cwd=repo, check=True)
    subprocess.run(["git", "clean", "-fdq", "--", "metrics"], cwd=repo, check=True)  # metrics of added rounds
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "--quiet"], cwd=repo, check=False)


def run_in_workspace(cmd: list[str], log: Path, repo: str | Path = ".") -> int:
    """Run a `dvc exp run` command in the workspace with its output in ``log``, then restore the workspace;
    returns the command's exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
    restore_workspace(repo)
    return done.returncode


def workspace_is_committed(repo: str | Path = ".") -> bool:
    """Experiments run in the workspace and are undone with restore_workspace: only safe on a committed one."""
    return subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "params.yaml", "dvc.lock", "dvc.yaml",
                           "metrics"], cwd=repo).returncode == 0


def _fs_with(rev: str, path: str, repo: str | Path):
    """The repository's files as in commit ``rev``, once ``path`` is known to be among them."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(str(repo), rev=rev)
    if not fs.exists(path):
        raise ExperimentError(f"{path} is not in commit {rev[:8]} (its stage did not run there)")
    return fs


def read_parquet_at(rev: str, path: str, repo: str | Path = ".") -> pa.Table:
    """A parquet artifact (git-tracked or a DVC out) as it was in commit ``rev``."""
    with _fs_with(rev, path, repo).open(path, "rb") as fh:
        return pq.read_table(io.BytesIO(fh.read()))


def read_text_at(rev: str, path: str, repo: str | Path = ".") -> str:
    """A text artifact (a metrics file, params.yaml) as it was in commit ``rev``."""
    with _fs_with(rev, path, repo).open(path, "rb") as fh:
        return fh.read().decode()


def get_at(rev: str, path: str, dest: str | Path, repo: str | Path = ".") -> Path:
    """Copy a file or folder artifact as it was in commit ``rev`` to ``dest``."""
    _fs_with(rev, path, repo).get(path, str(dest), recursive=True)
    return Path(dest)
