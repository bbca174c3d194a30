"""ONNX Runtime's TensorRT execution provider options, from the agent config's ``[detector.tensorrt]``.

Only a Jetson (or another NVIDIA GPU with TensorRT) runs these; elsewhere the provider is missing
and the detector falls back to CPU with a warning. Two ways to int8 on TensorRT:

* a QDQ model from ``edgelabel-agent quantize --target onnxruntime`` (explicit quantization):
  set ``int8 = true`` and no calibration table (TensorRT refuses a table for a QDQ model);
* a float model with a calibration table (implicit quantization): ``int8 = true`` and
  ``int8_calibration_table``. TensorRT reads the table from the engine cache directory, so the
  table's directory is the cache directory unless one is set (then they must be the same).

Building an engine takes minutes on a Jetson; ``engine_cache_dir`` keeps built engines across
restarts (and ``timing_cache`` speeds up rebuilding after a model change).
"""

from __future__ import annotations

from pathlib import Path

from edge.contract.errors import ConfigError

TENSORRT = "TensorrtExecutionProvider"


def tensorrt_provider_options(
    *,
    fp16: bool = False,
    int8: bool = False,
    int8_calibration_table: str = "",
    engine_cache_dir: str = "",
    timing_cache: bool = True,
    max_workspace_mb: int = 0,
    origin: str = "[detector.tensorrt]",
) -> dict[str, str]:
    """ONNX Runtime's option names and string values for these settings; ConfigError if they clash."""
    options = {"trt_fp16_enable": _flag(fp16), "trt_int8_enable": _flag(int8)}
    cache_dir = engine_cache_dir
    if int8_calibration_table:
        if not int8:
            raise ConfigError(f"{origin}: int8_calibration_table is set but int8 = false; set int8 = true")
        table = Path(int8_calibration_table)
        if engine_cache_dir and Path(engine_cache_dir).resolve() != table.parent.resolve():
            raise ConfigError(
                f"{origin}: int8_calibration_table {table} must be in engine_cache_dir {engine_cache_dir} "
                "(TensorRT reads the table from the engine cache directory)"
            )
        cache_dir = str(table.parent)
        options["trt_int8_calibration_table_name"] = table.name
        # ONNX Runtime's own calibration format (onnxruntime.quantization.write_calibration_table),
        # not a table TensorRT's own calibrator wrote.
        options["trt_int8_use_native_calibration_table"] = "False"
    if cache_dir:
        options["trt_engine_cache_enable"] = "True"
        options["trt_engine_cache_path"] = cache_dir
        if timing_cache:
            options["trt_timing_cache_enable"] = "True"
            options["trt_timing_cache_path"] = cache_dir
    if max_workspace_mb:
        if max_workspace_mb < 0:
            raise ConfigError(f"{origin}: max_workspace_mb must be >= 0, got {max_workspace_mb}")
        options["trt_max_workspace_size"] = str(max_workspace_mb * 1024 * 1024)
    return options


def _flag(value: bool) -> str:
    return "True" if value else "False"
