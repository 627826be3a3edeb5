"""Problems: the Problem record, files that hold problems (md, json, jsonl, csv), and the bundled sets by name."""
from problems.errors import ProblemError
from problems.loader import load_file
from problems.problem import Problem
from problems.sets import SetInfo, list_sets, load_set, resolve

__all__ = ["Problem", "ProblemError", "SetInfo", "list_sets", "load_file", "load_set", "resolve"]
