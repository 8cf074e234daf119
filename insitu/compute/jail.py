"""The sandboxed launcher: run as a script in a fresh interpreter by `insitu.compute.sandbox`.

Usage (internal): ``python -I -B jail.py SPEC_JSON REPORT_FD``. The launcher applies rlimits,
confines itself (`insitu.compute.isolation`), writes an isolation report to REPORT_FD and
closes it (so the algorithm cannot forge it), then imports the package's entry point and calls
it with a `Context`. Classified failures exit with `EXIT_BASE + Reason` (see `reasons.py`).
"""

import errno
import importlib
import json
import os
import resource
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insitu.compute.reasons import Reason, exit_code_for


class AlgorithmRejected(Exception):
    """Raised by an algorithm (via `Context.reject`) to fail with a specific reason code."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Context:
    """What an algorithm's entry point receives.

    `data_path` is the provider's private data (read-only), `output_dir` the result folder that
    is encrypted to the buyer, `local_dir` a folder the provider keeps (never published),
    `scratch_dir` the working directory (deleted after the run). `provider_inputs` holds values
    the provider's worker adds that the consumer must not choose or see (e.g. secure-sum masks).
    """

    data_path: Path
    params: dict[str, Any]
    output_dir: Path
    scratch_dir: Path
    local_dir: Path
    asset: str | None = None
    provider_inputs: dict[str, Any] = field(default_factory=dict)

    def read_table(self, required_columns: tuple[str, ...] = ()) -> Any:
        """The private data as a pandas DataFrame (CSV, or Parquet with pyarrow)."""
        from insitu.compute.data import load_table

        return load_table(self.data_path, asset=self.asset, required_columns=required_columns)

    def reject(self, reason: str | Reason, message: str) -> None:
        """Stop the run with `reason` (a Reason or its name) and a message for the worker."""
        raise AlgorithmRejected(Reason[reason] if isinstance(reason, str) else reason, message)

    def write_json(self, name: str, value: Any) -> Path:
        """Write `value` as sorted, indented JSON to `output_dir/name`."""
        path = self.output_dir / name
        path.write_text(json.dumps(value, indent=2, sort_keys=True, default=float) + "\n")
        return path


def _apply_limits(limits: dict[str, int]) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "max_file_bytes")):
        value = limits[key]
        resource.setrlimit(getattr(resource, name), (value, value))
    cpu = limits["cpu_seconds"]
    # Soft limit -> SIGXCPU (reported as a CPU-time timeout); hard limit one second later
    # -> SIGKILL in case SIGXCPU is caught.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _confine(spec: dict[str, Any]) -> dict[str, Any]:
    from insitu.compute import isolation

    readonly = [Path(p) for p in spec["readonly"]]
    writable = [Path(spec[k]) for k in ("output_dir", "scratch_dir", "local_dir")]
    mode = spec["isolation"]
    if mode in ("auto", "namespaces") and isolation.namespaces_available():
        try:
            return isolation.enter_namespaces(readonly, writable)
        except OSError as exc:
            if mode == "namespaces":
                raise
            report = isolation.install_audit_hook(readonly)
            report["namespaces_error"] = str(exc)
            return report
    if mode == "namespaces":
        raise OSError("namespaces requested but unavailable (needs Linux and root)")
    return isolation.install_audit_hook(readonly)


def _classify(exc: BaseException) -> Reason:
    if isinstance(exc, AlgorithmRejected):
        return exc.reason
    if isinstance(exc, MemoryError):
        return Reason.MEMORY
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return Reason.OUTPUT_TOO_LARGE
    reason = getattr(exc, "reason", None)  # insitu ComputeError subclasses (DataError, ...)
    if isinstance(reason, Reason):
        return reason
    return Reason.CRASHED


def main(argv: list[str]) -> int:
    """Run the job described by the spec file; returns the process exit status."""
    return run_spec(json.loads(Path(argv[1]).read_text()), int(argv[2]))


def run_spec(spec: dict[str, Any], report_fd: int) -> int:
    """Limit, confine and run one job in the calling process; returns its exit status.

    Called by `main` in a fresh interpreter, or by `insitu.compute.zygote` in a child forked
    from an interpreter that already imported the scientific stack.
    """
    _apply_limits(spec["limits"])
    try:
        report = _confine(spec)
    except OSError as exc:
        report = {"mode": "failed", "error": str(exc)}
    with os.fdopen(report_fd, "w") as report_out:
        report_out.write(json.dumps(report))
    if report["mode"] == "failed":
        print(f"sandbox: confinement failed: {report['error']}", file=sys.stderr)
        return exit_code_for(Reason.CRASHED)

    scratch = Path(spec["scratch_dir"])
    os.chdir(scratch)
    ctx = Context(
        data_path=Path(spec["data_path"]),
        params=spec["params"],
        output_dir=Path(spec["output_dir"]),
        scratch_dir=scratch,
        local_dir=Path(spec["local_dir"]),
        asset=spec.get("asset"),
        provider_inputs=spec.get("provider_inputs") or {},
    )
    try:
        sys.path.insert(0, spec["package_dir"])
        module_name, function_name = spec["entry_point"].split(":", 1)
        function = getattr(importlib.import_module(module_name), function_name)
        function(ctx)
        sys.stdout.flush()
    except BaseException as exc:  # every failure is classified, including SystemExit
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        reason = _classify(exc)
        try:
            traceback.print_exc(file=sys.stderr)
            print(f"sandbox: algorithm failed: {Reason(reason).name}: {exc}", file=sys.stderr)
        except BaseException:  # stderr may be what failed (EFBIG): keep the classification
            pass
        return exit_code_for(reason)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
