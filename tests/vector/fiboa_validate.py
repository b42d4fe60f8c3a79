"""Run the official fiboa validator (fiboa-cli, in its own environment) offline against local schema copies.

Usage (with the Python of the environment that holds fiboa-cli)::

    python tests/vector/fiboa_validate.py FILE [FILE ...]

The fiboa, Vecorel and geometry-metrics schemas are mapped to local files with fiboa-cli's own
``--schema URL,FILE`` option. vecorel-cli loads the GeoParquet metadata JSON schema and the GeoJSON
datatypes from fixed URLs that no option maps, and resolves the PROJJSON and GeoJSON schemas they
reference over HTTP, so this script puts the local copies into vecorel-cli's file cache and its
remote-reference resolver before the CLI runs.
The exit code is fiboa-cli's (0 = every file valid).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "schemas"
GEOPARQUET_SCHEMA = "https://geoparquet.org/releases/v1.1.0/schema.json"
PROJJSON_SCHEMA = "https://proj.org/schemas/v0.7/projjson.schema.json"
GEOJSON_DATATYPES = "https://vecorel.org/specification/v0.1.0/geojson/datatypes.json"
SCHEMA_MAP = {
    "https://fiboa.org/specification/v0.3.0/schema.yaml": HERE / "fiboa-v0.3.0-schema.yaml",
    "https://vecorel.org/specification/v0.1.0/schema.yaml": HERE / "vecorel-v0.1.0-schema.yaml",
    "https://vecorel.org/geometry-metrics-extension/v0.1.0/schema.yaml": HERE / "geometry-metrics-v0.1.0-schema.yaml",
}


def schema_options() -> list[str]:
    """``-s URL,FILE`` options for every schema an agriseg fields file names (agriseg's own columns are
    declared inside each file, in ``schemas:custom``)."""
    return [arg for uri, local in SCHEMA_MAP.items() for arg in ("-s", f"{uri},{local}")]


def main(files: list[str]) -> int:
    """Validate ``files`` with ``fiboa validate -n -1`` and return its exit code."""
    import referencing
    import referencing.jsonschema
    from vecorel_cli.validate_schema import ValidateSchema
    from vecorel_cli.vecorel import util

    util.file_cache[GEOPARQUET_SCHEMA] = json.loads((HERE / "geoparquet-v1.1.0-schema.json").read_text())
    util.file_cache[GEOJSON_DATATYPES] = json.loads((HERE / "vecorel-v0.1.0-geojson-datatypes.json").read_text())
    local = {PROJJSON_SCHEMA: HERE / "projjson-v0.7.schema.json"}
    local.update({f"https://geojson.org/schema/{p.name}": p for p in (HERE / "geojson").glob("*.json")})

    def retrieve(uri: str) -> referencing.Resource:
        if uri not in local:
            raise FileNotFoundError(f"{uri}: no local copy (the validator runs offline)")
        return referencing.Resource.from_contents(
            json.loads(local[uri].read_text()), default_specification=referencing.jsonschema.DRAFT202012
        )

    ValidateSchema.retrieve_remote_schema = staticmethod(retrieve)
    sys.argv = ["fiboa", "validate", *files, "-n", "-1", *schema_options()]
    try:
        import fiboa_cli.cli.setup  # noqa: F401  (its import runs the CLI on sys.argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
