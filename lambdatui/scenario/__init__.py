"""Scenario files: a function's lifecycle written down as steps and expectations (`lambdatui replay`).

`parse` reads and validates the TOML, `run` drives the steps through the controller and checks them,
`report` prints the timeline and the diffs, `record` writes what happened as a new scenario.
"""

from lambdatui.scenario.model import Expect, Scenario, Step
from lambdatui.scenario.parse import ScenarioError, check_targets, load_scenario, parse_scenario

__all__ = ["Expect", "Scenario", "ScenarioError", "Step", "check_targets", "load_scenario", "parse_scenario"]
