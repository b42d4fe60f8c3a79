"""The one batch runner: every per-item command goes through :func:`run_batch`.

A per-item command turns each input (a photo, a mask, a scene, an area) into outputs of its own. The runner
does, once for all of them: unique output names (:func:`unique_names`), skip / resume / refuse through a
fingerprint store, the inputs of the run protected from being written over, a tqdm progress bar, one
error formatter for per-item failures (one line naming the file), ``strict`` (stop at the first failure),
ok / skipped / failed counts and one summary line (:meth:`BatchResult.summary`), and the exit code
(:attr:`BatchResult.exit_code`: 0 when every item was produced, 1 when one failed; usage errors are 2 and
are raised before a batch starts). Outputs are written by the pipeline's work function through
:func:`agriseg.data.files.atomic_write` (:func:`agriseg.data.files.atomic_writes` for an item's set of
files); the runner creates the output folder and removes the temporaries of killed runs.

Where the work runs is pluggable (:class:`Executor`): in this process (:class:`Serial`), in threads
(:class:`Threads`), or as tasks of a Dask cluster (:class:`DaskCluster`, used by ``fields map``). A
pipeline that batches items itself (``crop predict`` runs several photos per forward pass) passes a
``stream`` instead of a per-item ``work`` function.

Commands and where they go:

- through the runner (per item): ``crop predict``, ``crop traits``, ``crop plots``, ``crop pseudolabel``;
  ``fields download`` (one scene), ``fields predict``, ``fields polygonize`` (one raster), ``fields map``
  (scenes, and the downloads of ``--areas``), ``fields run`` (one area), ``fields models download``;
  ``text predict``.
- outside (they read a whole data set or write one result from all inputs): ``crop train | selftrain |
  adapt | evaluate | screen | make-synthetic``; ``fields train | evaluate | robustness | change |
  import-checkpoint | export | make-synthetic``; ``text dataset | sft | grpo | evaluate | make-synthetic |
  tiny-model``. Their single output is refused when it exists unless ``--overwrite``
  (:func:`check_output`, the one place that message is written). Three of them, whose one output takes
  long to make, run it as the one item of a batch so that it is fingerprinted like the per-item outputs
  (unchanged re-run: a no-op; changed option or input: refused naming it; ``--overwrite``: made again):
  ``text dataset`` (the dataset folder), ``crop adapt`` (the adapted model) and ``crop selftrain``
  (``output_dir/model.safetensors``). Four of them read their inputs as items: ``text dataset`` leaves out
  an image it cannot use, ``crop make-synthetic`` a source photo it cannot read, and ``crop evaluate`` /
  ``text evaluate`` a pair they cannot score; each reports it and exits with status 1 (``--strict``: stops at
  the first).

Skip / resume / refuse go through the fingerprint interface of :mod:`agriseg.fingerprint`: each command
builds a :class:`~agriseg.fingerprint.Recipe` (what changes its outputs) and passes it to :func:`run_batch`,
which asks a :class:`~agriseg.fingerprint.FingerprintStore` about every item before it runs and tells it of
every item produced, in this process only.
"""

from __future__ import annotations

from agriseg.batch.errors import (
    NAMED_LINES,
    OTHER_FILE,
    OTHER_SETTINGS,
    OTHER_VERSION,
    BatchAborted,
    BatchInterrupted,
    DiskFull,
    InternalError,
    Interrupted,
    RemoteError,
    Terminated,
    counted,
    describe_error,
    describe_memory_error,
    describe_os_error,
    disk_full,
    edited_inputs,
    edited_reason,
    error_chain,
    finishing,
    interrupted,
    listed,
    outputs_stand,
    signals_deferred,
    terminated,
)
from agriseg.batch.executors import DaskCluster, Executor, Serial, Threads, lost_workers
from agriseg.batch.items import Item, Result, unique_names
from agriseg.batch.outputs import (
    MADE,
    already_made,
    already_there,
    check_made_files,
    check_output,
    check_table,
    drop_tables,
    file_digests,
    keep_unstamped_table,
    made_record,
    measured_now,
)
from agriseg.batch.progress import LOG_INTERVAL_S, bar_drew, progress_bar
from agriseg.batch.runner import (
    LEGACY_KEYWORDS,
    BatchOptions,
    BatchResult,
    Outcome,
    after_batch,
    batch_keywords,
    forget_batches,
    run_batch,
)

__all__ = [
    "BatchAborted",
    "BatchInterrupted",
    "BatchOptions",
    "BatchResult",
    "DaskCluster",
    "DiskFull",
    "Executor",
    "InternalError",
    "Interrupted",
    "Item",
    "LEGACY_KEYWORDS",
    "LOG_INTERVAL_S",
    "MADE",
    "NAMED_LINES",
    "OTHER_FILE",
    "OTHER_SETTINGS",
    "OTHER_VERSION",
    "Outcome",
    "RemoteError",
    "Result",
    "Serial",
    "Terminated",
    "Threads",
    "after_batch",
    "already_made",
    "already_there",
    "bar_drew",
    "batch_keywords",
    "check_made_files",
    "check_output",
    "check_table",
    "counted",
    "describe_error",
    "describe_memory_error",
    "describe_os_error",
    "disk_full",
    "edited_inputs",
    "edited_reason",
    "error_chain",
    "drop_tables",
    "file_digests",
    "forget_batches",
    "interrupted",
    "outputs_stand",
    "keep_unstamped_table",
    "listed",
    "lost_workers",
    "made_record",
    "measured_now",
    "progress_bar",
    "run_batch",
    "signals_deferred",
    "terminated",
    "unique_names",
    "finishing",
]
