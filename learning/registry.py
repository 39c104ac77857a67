"""The model registry: which trained archive is live, which were candidates, and who replaced whom.

A model is registered once, with the SHA-256 of the data it was trained on, its metrics and its parent
(the model that was live when it was trained). Promotion makes one model LIVE and retires the previous
one; rollback brings the previous live model back. Nothing is deleted, so the history stays readable.

Why a promotions table beside `model_registry`: the registry row says what a model is, not when it
served; rollback needs the order in which models went live, so every promote and rollback is recorded
(`model_promotions`, on learning.db's metadata, created on first use).

What serves: `make run` (bot/launcher.py) starts `live_archive()` when the registry has one; promotion
also copies the archive into models/ with a fresh mtime, so plain `rasa run`/`rasa shell` (which load the
newest archive there) serve it too.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from sqlalchemy import Column, DateTime, Integer, String, Table, select
from sqlalchemy.engine import Connection, Engine

from learning.db import CANDIDATE, LIVE, REPO_ROOT, RETIRED, SHADOW, get_engine, metadata, models, utcnow

DEFAULT_SERVE_DIR = REPO_ROOT / "models"
ID_LENGTH = 12
PROMOTE, ROLLBACK = "promote", "rollback"

promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(64), nullable=False, index=True),  # the model that went live
    Column("previous_id", String(64), nullable=True),  # the model it replaced
    Column("action", String(16), nullable=False),  # promote or rollback
    Column("username", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class RegistryError(ValueError):
    """An unknown model, a missing archive, or nothing to roll back to."""


@dataclass
class ModelRecord:
    id: str
    path: str
    data_hash: str
    metrics: Dict[str, Any] = field(default_factory=dict)
    parent_id: Optional[str] = None
    status: str = CANDIDATE
    created_at: Optional[datetime] = None
    note: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready (the console's model list)."""
        out = dict(self.__dict__)
        out["created_at"] = self.created_at.isoformat() if self.created_at else None
        return out


# ----------------------------------------------------------------------------------------------------
# Hashes


def file_digest(path: Path, length: Optional[int] = None) -> str:
    """SHA-256 of a file's bytes (hex, cut to `length`)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def data_hash(data_dir: Path, config: Path, domain: Path) -> str:
    """SHA-256 over every file under `data_dir` (sorted by relative path, name and bytes), then the config
    and the domain: the same training inputs always give the same hash, and any change gives another."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(data_dir).rglob("*") if p.is_file())
    named = [(p.relative_to(data_dir).as_posix(), p) for p in files]
    named += [("config.yml", Path(config)), ("bot/domain.yml", Path(domain))]
    for name, path in named:
        content = path.read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------
# Reading


def _ensure(engine: Engine) -> None:
    promotions.create(engine, checkfirst=True)


def _record(row: Any) -> ModelRecord:
    return ModelRecord(
        id=row.id, path=row.path, data_hash=row.data_hash, metrics=dict(row.metrics or {}),
        parent_id=row.parent_id, status=row.status, created_at=row.created_at, note=row.note or "",
    )


def get_model(engine: Engine, model_id: str) -> ModelRecord:
    with engine.connect() as conn:
        row = conn.execute(select(models).where(models.c.id == model_id)).first()
    if row is None:
        raise RegistryError(f"no model {model_id!r} in the registry")
    return _record(row)


def list_models(engine: Engine) -> List[ModelRecord]:
    """Every registered model, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(models).order_by(models.c.created_at.desc(), models.c.id)).all()
    return [_record(r) for r in rows]


def live_model(engine: Engine) -> Optional[ModelRecord]:
    with engine.connect() as conn:
        row = conn.execute(select(models).where(models.c.status == LIVE)).first()
    return _record(row) if row is not None else None


def shadow_model(engine: Engine) -> Optional[ModelRecord]:
    """The model that parses live traffic off the request path (ops/shadow.py), if any."""
    with engine.connect() as conn:
        row = conn.execute(select(models).where(models.c.status == SHADOW)).first()
    return _record(row) if row is not None else None


def set_shadow(engine: Engine, model_id: Optional[str]) -> Optional[ModelRecord]:
    """Make a model the one shadow (the previous shadow goes back to candidate); None: no shadow."""
    if model_id is not None and get_model(engine, model_id).status == LIVE:
        raise RegistryError(f"{model_id} is live; a shadow is compared with the live model")
    with engine.begin() as conn:
        conn.execute(models.update().where(models.c.status == SHADOW).values(status=CANDIDATE))
        if model_id is not None:
            conn.execute(models.update().where(models.c.id == model_id).values(status=SHADOW))
    return get_model(engine, model_id) if model_id is not None else None


def history(engine: Engine) -> List[Dict[str, Any]]:
    """Every promote and rollback, oldest first."""
    _ensure(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(promotions).order_by(promotions.c.id)).all()
    return [dict(r._mapping) for r in rows]


def live_archive(engine: Optional[Engine] = None) -> Optional[Path]:
    """The live model's archive when the registry has one and the file is there (bot/launcher.py)."""
    live = live_model(engine or get_engine())
    if live is None or not Path(live.path).is_file():
        return None
    return Path(live.path)


# ----------------------------------------------------------------------------------------------------
# Writing


def register(
    engine: Engine,
    archive: Path,
    data_hash_hex: str,
    metrics: Optional[Mapping[str, Any]] = None,
    parent_id: Optional[str] = None,
    status: str = CANDIDATE,
    note: str = "",
) -> ModelRecord:
    """Add a trained archive (id: its SHA-256 prefix); registering the same archive again updates its
    metrics and note. The parent defaults to the model live now."""
    archive = Path(archive).resolve()
    if not archive.is_file():
        raise RegistryError(f"no model archive at {archive}")
    model_id = file_digest(archive, ID_LENGTH)
    if parent_id is None:
        live = live_model(engine)
        parent_id = live.id if live is not None and live.id != model_id else None
    with engine.begin() as conn:
        exists = conn.execute(select(models.c.id).where(models.c.id == model_id)).first()
        if exists:
            conn.execute(models.update().where(models.c.id == model_id).values(
                metrics=dict(metrics or {}), note=note))
        else:
            conn.execute(models.insert().values(
                id=model_id, path=str(archive), data_hash=data_hash_hex, metrics=dict(metrics or {}),
                parent_id=parent_id, status=status, created_at=utcnow(), note=note,
            ))
    return get_model(engine, model_id)


def update_metrics(engine: Engine, model_id: str, metrics: Mapping[str, Any]) -> None:
    """Merge freshly measured metrics (per evaluation set) into a model's entry."""
    current = get_model(engine, model_id).metrics
    with engine.begin() as conn:
        conn.execute(models.update().where(models.c.id == model_id).values(metrics={**current, **metrics}))


def promote(engine: Engine, model_id: str, username: str = "", serve_dir: Optional[Path] = DEFAULT_SERVE_DIR
            ) -> ModelRecord:
    """Make a model live: the live one is retired, the event recorded, the archive placed for serving."""
    _ensure(engine)
    target = get_model(engine, model_id)
    if not Path(target.path).is_file():
        raise RegistryError(f"the archive of {model_id} is gone: {target.path}")
    if target.status == LIVE:
        _place(Path(target.path), model_id, serve_dir)
        return target
    with engine.begin() as conn:
        previous = _switch(conn, model_id)
        conn.execute(promotions.insert().values(model_id=model_id, previous_id=previous, action=PROMOTE,
                                                username=username, created_at=utcnow()))
    _place(Path(target.path), model_id, serve_dir)
    return get_model(engine, model_id)


def rollback(engine: Engine, username: str = "", serve_dir: Optional[Path] = DEFAULT_SERVE_DIR
             ) -> ModelRecord:
    """Bring back the model the live one replaced (walking back one promotion per call)."""
    _ensure(engine)
    live = live_model(engine)
    if live is None:
        raise RegistryError("no live model to roll back")
    previous = previous_live(history(engine), live.id)
    if previous is None:
        raise RegistryError(f"{live.id} replaced no earlier model; nothing to roll back to")
    target = get_model(engine, previous)
    if not Path(target.path).is_file():
        raise RegistryError(f"the archive of {previous} is gone: {target.path}")
    with engine.begin() as conn:
        _switch(conn, previous)
        conn.execute(promotions.insert().values(model_id=previous, previous_id=live.id, action=ROLLBACK,
                                                username=username, created_at=utcnow()))
    _place(Path(target.path), previous, serve_dir)
    return get_model(engine, previous)


def previous_live(events: Iterable[Mapping[str, Any]], live_id: str) -> Optional[str]:
    """The model that `live_id` replaced when it was last promoted (rollbacks are not promotions, so
    repeated rollbacks walk further back)."""
    found: Optional[str] = None
    for event in events:
        if event["action"] == PROMOTE and event["model_id"] == live_id:
            found = event["previous_id"]
    return found


def _switch(conn: Connection, model_id: str) -> Optional[str]:
    """Retire whatever is live and make `model_id` live; the retired id."""
    row = conn.execute(select(models.c.id).where(models.c.status == LIVE)).first()
    previous = row.id if row is not None else None
    conn.execute(models.update().where(models.c.status == LIVE).values(status=RETIRED))
    conn.execute(models.update().where(models.c.id == model_id).values(status=LIVE))
    return previous


def _place(archive: Path, model_id: str, serve_dir: Optional[Path]) -> None:
    """Copy the archive into the serving folder with a fresh mtime (Rasa loads the newest one there)."""
    if serve_dir is None:
        return
    serve_dir.mkdir(parents=True, exist_ok=True)
    target = serve_dir / f"live-{model_id}.tar.gz"
    if archive.resolve() != target.resolve():
        shutil.copyfile(archive, target)
    target.touch()


# ----------------------------------------------------------------------------------------------------
# Command line


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m learning.registry list | promote ID | rollback | shadow ID|none`: change the registry,
    then (unless --no-serve) ask the running Rasa server to serve the live model (ops/serving.py)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m learning.registry", description=main.__doc__)
    parser.add_argument("action", choices=("list", "promote", "rollback", "shadow"))
    parser.add_argument("model_id", nargs="?", help="promote, shadow: the model (shadow none: no shadow)")
    parser.add_argument("--user", default="cli")
    parser.add_argument("--rasa-url", default=None, help="default: SHOPCUE_CONSOLE_RASA_URL or :5005")
    parser.add_argument("--no-serve", action="store_true", help="change the registry only")
    parser.add_argument("--serve-dir", type=Path, default=DEFAULT_SERVE_DIR,
                        help="where the live archive is copied for plain `rasa run` (default models/)")
    args = parser.parse_args(argv)
    engine = get_engine()
    try:
        if args.action == "list":
            for record in list_models(engine):
                print(f"{record.id}  {record.status:9}  {record.created_at:%Y-%m-%d %H:%M}  {record.path}")
            return 0
        if args.action == "shadow":
            if not args.model_id:
                parser.error("shadow needs a model id (or none)")
            chosen = set_shadow(engine, None if args.model_id == "none" else args.model_id)
            print(f"shadow: {chosen.id if chosen else 'none'} (bot.launcher starts python -m ops.shadow)")
            return 0
        if args.action == "promote":
            if not args.model_id:
                parser.error("promote needs a model id")
            record = promote(engine, args.model_id, args.user, args.serve_dir)
        else:
            record = rollback(engine, args.user, args.serve_dir)
    except RegistryError as error:
        print(f"registry: {error}")
        return 1
    print(f"{args.action}: {record.id} is live in the registry")
    if args.no_serve:
        return 0
    from ops.serving_client import serve_live

    try:
        view = serve_live(record.id, url=args.rasa_url)
    except RuntimeError as error:
        print(f"the running server was not switched: {error}")
        return 2
    print("serving: " + json.dumps(view.get("live")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
