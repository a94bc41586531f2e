"""Reading and writing results: atomic file writes, the output-folder policy of every command
(claiming a folder, recording what lwpdsim writes there, removing only that), one JSON form for
numbers (infinities and NaN) and one codec for a :class:`~lwpdsim.results.RunResult`, keeping
its tables whole, thinned or not at all (:class:`RecordFormat`)."""

from .codec import load_result, load_summary, records_of, save_result, save_results
from .files import (
    FIGURES_FOLDER,
    PLAIN,
    PLOT_FOLDER,
    RUN_FOLDER,
    SWEEP_FOLDER,
    OutputError,
    ResultsFolder,
    Writer,
    write_bytes_atomic,
    write_text_atomic,
)
from .folder import OutputFolder
from .journal import MARKER
from .jsonable import dumps, json_number, json_ready
from .lock import LOCK_NAME
from .ownership import check_out, claim
from .records import RecordFormat, records_for

__all__ = [
    "FIGURES_FOLDER",
    "LOCK_NAME",
    "MARKER",
    "PLAIN",
    "PLOT_FOLDER",
    "RUN_FOLDER",
    "SWEEP_FOLDER",
    "OutputError",
    "OutputFolder",
    "RecordFormat",
    "ResultsFolder",
    "Writer",
    "check_out",
    "claim",
    "dumps",
    "json_number",
    "json_ready",
    "load_result",
    "load_summary",
    "records_for",
    "records_of",
    "save_result",
    "save_results",
    "write_bytes_atomic",
    "write_text_atomic",
]
