"""Child process for the signal tests: run CH-02 until a signal ends it."""

from __future__ import annotations

import sys

from pytest_spark.chaos import runner, scenario

if __name__ == "__main__":
    state_dir, run_dir = sys.argv[1], sys.argv[2]
    experiment = runner.load(scenario.experiment_path("CH-02"))
    print("running", flush=True)
    runner.run(experiment, state_dir=state_dir, run_dir=run_dir)
    print("finished without a signal", flush=True)
