"""Settings of blockwise polygonisation (``agriseg fields polygonize``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from agriseg.config import StrictModel

Separation = Literal["watershed", "components"]
# class ids of a class raster: fields predict writes uint8; a user's 16-bit raster works too
MAX_CLASS = 65535


class PolygonizeConfig(StrictModel):
    """How class/probability rasters become field polygons.

    Areas are in m2 whatever the raster CRS (geographic CRSs are handled per polygon in a local UTM zone);
    ``simplify`` is in metres on every CRS (on a geographic one, by the ground size of its centre pixel).
    """

    block_size: int = Field(
        2048,
        ge=32,
        description="pixels per block side; a worker's memory grows with its square (PRUE used 4096); the"
        " polygons do not depend on it",
    )
    workers: int = Field(
        0, ge=0, description="processes sharing the blocks (0 = one per CPU core; 1 = this process only)"
    )
    field_class: int = Field(1, ge=0, le=MAX_CLASS, description="class id of fields in the class raster")
    boundary_class: int = Field(2, ge=0, le=MAX_CLASS, description="class id of field boundaries")
    separation: Separation = Field(
        "watershed",
        description="watershed = touching fields split by flooding from field cores; components = one polygon"
        " "
        "per 4-connected field-class region (ftw-tools' rule)",
    )
    core_threshold: float = Field(
        0.7,
        ge=0,
        le=1,
        description="field probability a pixel needs to seed a field core (probability rasters)",
    )
    core_erosion: int = Field(1, ge=0, description="4-neighbour erosions of the core mask before seeding")
    class_only_erosion: int = Field(
        2,
        ge=0,
        description="erosions of the field mask that form the cores of class-only rasters (no probabilities)",
    )
    min_seed_px: int = Field(4, ge=1, description="smaller cores do not seed a field of their own")
    simplify: float | None = Field(
        None,
        ge=0,
        description="Douglas-Peucker tolerance of the field edges in metres, each shared edge simplified once for"
        " both fields (on a geographic CRS, metres by the ground size of its centre pixel; 0 = sub-pixel"
        " outlines, unsimplified; default: 1 pixel)",
    )
    # at most 20: the split's cost grows with the square of the distance (a 578 x 379 px scene: 1.5 s at 5 px, 7 s
    # at 20, 80 s at 100), and a boundary is a few pixels wide (session 104's sweep: 1000 ran out of memory)
    split_boundary_px: float = Field(
        2.0,
        ge=0,
        le=20,
        description="boundary pixels within this many pixels of a field are split between the nearest fields,"
        " so touching fields share one edge (0 = keep the boundary gap)",
    )
    min_area_m2: float = Field(500.0, ge=0, description="drop fields smaller than this (ftw-tools: 500)")
    max_area_m2: float = Field(0.0, ge=0, description="drop fields larger than this (0 = no limit)")
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="drop fields whose mean field probability is lower (0 = keep all)"
    )
    fill_holes_m2: float = Field(
        1000.0, ge=0, description="fill holes smaller than this that hold no other field (0 = keep all holes)"
    )
    landcover: str | None = Field(
        None, description="land-cover raster (any CRS, e.g. ESA WorldCover) that fields must lie on"
    )
    landcover_keep: list[int] = Field(
        default_factory=list, description="land-cover classes fields may lie on (e.g. WorldCover 40 = cropland)"
    )
    landcover_drop: list[int] = Field(
        default_factory=list, description="land-cover classes fields may not lie on (used when keep is empty)"
    )
    landcover_min_fraction: float = Field(
        0.5, ge=0, le=1, description="share of a field's land-cover pixels that must be allowed classes"
    )
    progress: bool = True

    @field_validator("landcover_keep", "landcover_drop")
    @classmethod
    def _needs_landcover(cls, v: list[int], info: ValidationInfo) -> list[int]:
        if v and info.data.get("landcover") is None:  # never read without a land cover: say so, not ignore it
            raise ValueError("land-cover classes are read with --landcover only; give it (a source or a file)")
        return v

    @field_validator("max_area_m2")
    @classmethod
    def _max_above_min(cls, v: float, info: ValidationInfo) -> float:
        lo = info.data.get("min_area_m2")
        if v and lo is not None and v < lo:
            raise ValueError(f"must be 0 (no limit) or at least the smallest area kept ({lo:g} m2)")
        return v

    def fingerprint(self) -> dict:
        """The settings that change the polygons, for the fingerprints of the commands that write them."""
        options = self.model_dump(exclude={"progress", "workers", "block_size"})
        if self.simplify:  # metres on geographic CRSs too since this release: degrees-era outputs are made again
            options["simplify_unit"] = "m"
        return options
