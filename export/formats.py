"""The export-format registry: `register_format`, `list_formats`, `get_format`, `format_of(path)`."""

from pathlib import Path

from distill.errors import DistillError
from distill.registry import Registry
from export import coreml_format, onnx_format, tflite_format
from export.base import ExportFormat

_FORMATS: Registry[ExportFormat] = Registry("export format")


def register_format(fmt: ExportFormat) -> ExportFormat:
    """Add a format (name and file suffix must be new)."""
    if any(get_format(n).suffix == fmt.suffix for n in list_formats()):
        raise ValueError(f"suffix {fmt.suffix} already belongs to another export format")
    return _FORMATS.register(fmt.name, fmt)


def list_formats() -> list[str]:
    """Registered format names."""
    return _FORMATS.names()


def get_format(name: str) -> ExportFormat:
    """The format called `name` (one-line error listing the known ones)."""
    return _FORMATS.get(name)


def format_of(path: str | Path) -> ExportFormat:
    """The format of an artefact, by its suffix."""
    p = Path(path)
    for name in list_formats():
        if p.suffix == get_format(name).suffix:
            return get_format(name)
    known = ", ".join(get_format(n).suffix for n in list_formats())
    raise DistillError(f"{p}: unknown artefact type (expected one of {known})")


for _module in (onnx_format, tflite_format, coreml_format):
    register_format(_module.FORMAT)
