"""Running scene-scale field mapping over many scenes: serial, or Dask tasks on a distributed cluster;
merged fields with each field of overlapping scenes written once."""

from __future__ import annotations

from agriseg.fields.mapping.dedupe import dedupe_fields
from agriseg.fields.mapping.runner import merge_fields, run_dask, run_map, run_serial
from agriseg.fields.mapping.scene import SceneJob, run_scene

__all__ = ["SceneJob", "dedupe_fields", "merge_fields", "run_dask", "run_map", "run_scene", "run_serial"]
