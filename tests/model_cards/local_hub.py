"""`LocalHub`: an `HfApi` whose commits land in a local folder, for testing pushes offline.

It keeps huggingface_hub's own client-side logic (`_prepare_upload_folder_additions`: the allow / ignore patterns,
the default ignores, README metadata checks) and replaces only what talks to the server: repository creation, commits
(each `CommitOperationAdd` / `CommitOperationDelete` applied to `<root>/<repo_id>/`) and the server's YAML check (done
locally by parsing the card). Install it with `install_local_hub(monkeypatch, root)`.
"""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import Future
from pathlib import Path

import transformers.utils.hub
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS, RepoUrl
from huggingface_hub.utils import filter_repo_objects

ENDPOINT = "https://hub.invalid"


class LocalHub(HfApi):
    def __init__(self, root: str | Path) -> None:
        super().__init__(endpoint=ENDPOINT, library_name="babelclip-tests")
        self.root = Path(root)
        self.created: dict[str, bool | None] = {}  # repo_id -> private
        self.commits: list[dict] = []

    def repo_folder(self, repo_id: str) -> Path:
        return self.root / repo_id

    def create_repo(self, repo_id: str, *, private: bool | None = None, exist_ok: bool = False, **kwargs) -> RepoUrl:
        if "/" not in repo_id:
            repo_id = f"tester/{repo_id}"  # the Hub puts a bare name under the user's namespace
        folder = self.repo_folder(repo_id)
        if folder.exists() and not exist_ok:
            raise ValueError(f"Repository {repo_id} already exists")
        folder.mkdir(parents=True, exist_ok=True)
        self.created.setdefault(repo_id, private)
        return RepoUrl(f"{ENDPOINT}/{repo_id}", endpoint=ENDPOINT)

    def create_commit(self, repo_id: str, operations, *, commit_message: str, **kwargs) -> CommitInfo:
        folder = self.repo_folder(repo_id)
        if not folder.is_dir():
            raise ValueError(f"Repository {repo_id} not found: create it first")
        digest = hashlib.sha1(commit_message.encode())
        for operation in operations:
            target = folder / operation.path_in_repo
            if isinstance(operation, CommitOperationAdd):
                target.parent.mkdir(parents=True, exist_ok=True)
                with operation.as_file() as source:
                    data = source.read()
                target.write_bytes(data)
                digest.update(operation.path_in_repo.encode() + data)
            elif isinstance(operation, CommitOperationDelete):
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            else:
                raise TypeError(f"Unsupported commit operation {operation!r}")
        paths = [operation.path_in_repo for operation in operations]
        self.commits.append({"repo_id": repo_id, "message": commit_message, "paths": paths})
        oid = digest.hexdigest()
        return CommitInfo(
            commit_url=f"{ENDPOINT}/{repo_id}/commit/{oid}",
            commit_message=commit_message,
            commit_description=kwargs.get("commit_description") or "",
            oid=oid,
            _endpoint=ENDPOINT,
        )

    def upload_folder(
        self,
        *,
        repo_id: str,
        folder_path,
        path_in_repo: str | None = None,
        commit_message: str | None = None,
        allow_patterns=None,
        ignore_patterns=None,
        delete_patterns=None,
        run_as_future: bool = False,
        repo_type: str | None = None,
        token=None,
        **kwargs,
    ):
        ignore = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
        additions = self._prepare_upload_folder_additions(
            folder_path,
            path_in_repo or "",
            allow_patterns=allow_patterns,
            ignore_patterns=ignore + DEFAULT_IGNORE_PATTERNS,
            repo_type=repo_type,
            token=token,
        )
        folder = self.repo_folder(repo_id)
        existing = [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]
        added = {operation.path_in_repo for operation in additions}
        deletions = [
            CommitOperationDelete(path)
            for path in filter_repo_objects(existing, allow_patterns=delete_patterns)
            if delete_patterns is not None and path not in added
        ]
        info = self.create_commit(
            repo_id, deletions + additions, commit_message=commit_message or "Upload folder", **kwargs
        )
        if run_as_future:
            future: Future = Future()
            future.set_result(info)
            return future
        return info

    def _validate_yaml(self, content: str, *, repo_type: str | None = None, token=None) -> None:
        ModelCard(content)  # parses the metadata (model-index included) as the Hub would


def install_local_hub(monkeypatch, root: str | Path) -> LocalHub:
    """Routes transformers' `hf_api()` and babelclip's pushes to a `LocalHub` writing under `root`."""
    from babelclip.model_cards import push

    hub = LocalHub(root)
    monkeypatch.setattr(transformers.utils.hub, "_hf_api", hub)
    monkeypatch.setattr(push, "HfApi", lambda **kwargs: hub)
    return hub
