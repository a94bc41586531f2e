"""lwpdsim: simulate stragglers in distributed gradient descent.

>>> import lwpdsim
>>> scenario = lwpdsim.load_scenario("scenarios/quickstart.toml")   # doctest: +SKIP
>>> results = lwpdsim.simulate(scenario)                              # doctest: +SKIP
>>> results["sync"].summary["final_loss"]                             # doctest: +SKIP
"""

from .config import Scenario, load_scenario
from .errors import DecodingError, LwpdsimError, ScenarioError
from .results import RunResult
from .run_folder import save_run
from .sim import simulate
from .sweep import run_sweep

__version__ = "0.1.0"

__all__ = [
    "DecodingError",
    "LwpdsimError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "run_sweep",
    "save_run",
    "simulate",
]
