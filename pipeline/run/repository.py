"""The repository: every git and DVC-experiment call of the project goes through here. The commit of a named
experiment, an artifact as it was in any commit (read from the DVC cache with the workspace untouched), the
workspace restored after an experiment. What `dpe compare`, the audit and the benchmarks read runs through it.

Experiments are found by their refs (DVC keeps experiment ``name`` of baseline ``B`` under
``refs/exps/B[:2]/B[2:]/name``): ``dvc.api.exp_show`` lists only given baselines' experiments and computes their
metrics, where a lookup by name needs neither."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class ExperimentError(LookupError):
    """An experiment or artifact that is not there; the message says what to run instead."""


def git(*args: str, repo: str | Path = ".", check: bool = True) -> str:
    """The output of ``git args`` in ``repo``, stripped; raises CalledProcessError when ``check`` and it fails."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check).stdout.strip()


def head(repo: str | Path = ".", short: bool = False) -> str:
    """The commit checked out in ``repo``; "" in a repository with no commit yet."""
    return git("rev-parse", *(["--short"] if short else []), "--verify", "--quiet", "HEAD", repo=repo, check=False)


def commit_of(rev: str, repo: str | Path = ".") -> str | None:
    """The full commit a git revision names, or None when it names none."""
    return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", repo=repo, check=False) or None


def newest(commits: list[str], repo: str | Path = ".") -> str:
    """The most recent of ``commits`` by commit date."""
    return git("log", "--no-walk=sorted", "--format=%H", *commits, repo=repo).split()[0]


def is_committed(paths: list[str], repo: str | Path = ".") -> bool:
    """Whether ``paths`` in the workspace equal HEAD's."""
    return subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *paths], cwd=repo).returncode == 0


def _experiments(repo: str | Path) -> list[tuple[str, str, str]]:
    """Every DVC experiment as (commit, baseline commit, name)."""
    refs = git("for-each-ref", "--format=%(objectname) %(refname)", "refs/exps", repo=repo).split()
    return [(sha, parts[2] + parts[3], parts[-1])
            for sha, parts in ((sha, ref.split("/")) for sha, ref in zip(refs[::2], refs[1::2])) if len(parts) >= 5]


def exp_commits(name: str, repo: str | Path = ".") -> list[str]:
    """The commits of every experiment called ``name``, on any baseline."""
    return [sha for sha, _, exp in _experiments(repo) if exp == name]


def exp_commit(name: str, baseline: str = "", repo: str | Path = ".") -> str:
    """The commit of experiment ``name``, of ``baseline`` when given (a commit prefix); a plain git revision (HEAD,
    a branch, a commit) resolves to itself."""
    found = [sha for sha, base, exp in _experiments(repo) if exp == name and base.startswith(baseline)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ExperimentError(f"experiment {name!r} exists on {len(found)} baselines; name one (`dvc exp list "
                              "--all-commits`) or pass its commit")
    commit = commit_of(name, repo)
    if commit is None:
        raise ExperimentError(f"no experiment or commit named {name!r} (`dvc exp list --all-commits` lists them)")
    return commit


def restore_workspace(repo: str | Path = ".") -> None:
    """HEAD's params, lock, metrics and cached outs: what `dvc exp run` in the workspace leaves behind, undone,
    so the next run (and the user) start from the committed state."""
    git("checkout", "HEAD", "--", "params.yaml", "dvc.lock", "metrics", repo=repo)
    git("clean", "-fdq", "--", "metrics", repo=repo)  # metrics of added rounds
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "--quiet"], cwd=repo, check=False)


def run_in_workspace(cmd: list[str], log: Path, repo: str | Path = ".") -> int:
    """Run a `dvc exp run` command in the workspace with its output in ``log``, then restore the workspace;
    returns the command's exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
    restore_workspace(repo)
    return done.returncode


def run_experiment(name: str, sets: list[str], log: Path, repo: str | Path = ".") -> str:
    """``dvc exp run -n name -S <sets>`` in the workspace, from HEAD's state (a stale experiment of that name is
    removed first), its output in ``log``; returns the experiment's commit. The run's outputs stay in the
    workspace for the caller to read until ``restore_workspace``. Raises RuntimeError naming the log."""
    restore_workspace(repo)
    subprocess.run([sys.executable, "-m", "dvc", "exp", "remove", name], cwd=repo, capture_output=True)
    cmd = [sys.executable, "-m", "dvc", "exp", "run", "-n", name, *(a for s in sets for a in ("-S", s))]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"experiment {name} failed (exit {done.returncode}); see {log}")
    return exp_commit(name, head(repo), repo=repo)


def show(rev: str, path: str, repo: str | Path = ".") -> bytes:
    """A git-tracked file's bytes as in commit ``rev``."""
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=True).stdout


def files_at(rev: str, folder: str, repo: str | Path = ".") -> list[str]:
    """The git-tracked files under ``folder`` in commit ``rev``."""
    return git("ls-tree", "-r", "--name-only", rev, folder, repo=repo).split()


def clone(rev: str, dest: str | Path, repo: str | Path = ".") -> Path:
    """A fresh clone of ``repo`` at commit ``rev`` in ``dest`` (git-tracked files only: no DVC outs, no venv)."""
    git("clone", "-q", str(Path(repo).resolve()), str(dest))
    git("checkout", "-q", rev, repo=dest)
    return Path(dest)


def workspace_is_committed(repo: str | Path = ".") -> bool:
    """Experiments run in the workspace and are undone with restore_workspace: only safe on a committed one."""
    return is_committed(["params.yaml", "dvc.lock", "dvc.yaml", "metrics"], repo)


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
