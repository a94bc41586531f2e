"""Reading and writing results: atomic file writes, the output-folder policy of every command, one
JSON form for numbers (infinities and NaN) and one codec for a :class:`~lwpdsim.results.RunResult`."""

from .codec import load_result, load_summary, save_result, save_results
from .files import (
    FIGURES_FOLDER,
    RUN_FOLDER,
    SWEEP_FOLDER,
    ResultsFolder,
    check_out,
    prepare_out,
    write_bytes_atomic,
    write_text_atomic,
)
from .jsonable import dumps, json_number, json_ready

__all__ = [
    "FIGURES_FOLDER",
    "RUN_FOLDER",
    "SWEEP_FOLDER",
    "ResultsFolder",
    "check_out",
    "dumps",
    "json_number",
    "json_ready",
    "load_result",
    "load_summary",
    "prepare_out",
    "save_result",
    "save_results",
    "write_bytes_atomic",
    "write_text_atomic",
]
