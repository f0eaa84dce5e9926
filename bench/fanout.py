"""Replicate fan-out: the master opens one position; time POST /api/replicate until every client is done.

    .venv/bin/python bench/fanout.py                              # the grid N=1,10,100,500 x L=0,50,100 ms
    .venv/bin/python bench/fanout.py --clients 100 --latency-ms 100

Prints a table and, last, one JSON line. See bench/grid.py for the method and bench/README.md for results.
"""
from __future__ import annotations

import os
import sys

# bench/ goes last on the path: bench/requests.py must not shadow the requests library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

import grid  # noqa: E402

if __name__ == "__main__":
    grid.main("fanout")
