"""The periodic refresh re-reads addon manifests only when they changed on disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from opsconductor.plugins import build_runtime
from opsconductor.sources.service import SourcesService

ROOT = Path(__file__).resolve().parents[2]


async def test_refresh_skips_unchanged_files_and_picks_up_edits(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    addons = tmp_path / "addons"
    shutil.copytree(ROOT / "addons" / "ping", addons / "ping")
    rt = build_runtime(settings_factory(addons_dir=addons))
    svc: SourcesService = rt.sources
    await svc.reload()
    first = svc.addons
    assert "ping" in first.manifests

    await svc.reload(force=False)
    assert svc.addons is first  # nothing changed on disk: not parsed again

    manifest = addons / "ping" / "addon.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    os.utime(manifest, ns=(manifest.stat().st_mtime_ns + 10**9,) * 2)
    await svc.reload(force=False)
    assert svc.addons is not first and svc.addons.manifests["ping"].version == "1.0.1"

    manifest.write_text("name: ping\nsources: [\n")  # broken: refused, the last good one stays
    os.utime(manifest, ns=(manifest.stat().st_mtime_ns + 2 * 10**9,) * 2)
    report = await svc.reload(force=False)
    assert svc.addons.manifests["ping"].version == "1.0.1"
    assert any("ping/addon.yaml:3:1: while parsing a flow node" in e for e in report.errors), report.errors
    await rt.db.dispose()
