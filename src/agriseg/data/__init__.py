"""Data plumbing shared by the pipelines: reading and listing images (``io``), writing outputs atomically
and strict JSON (``files``), and the seeded training loader (``loaders``)."""
