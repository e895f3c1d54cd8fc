"""The node graph (``configs/graph.yaml``), read by the launch file and by ``nav bringup``. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from configs import load

DEFAULT_GRAPH = "graph.yaml"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    """Console script installed under ``lib/nav`` by colcon."""
    module: str
    """The Python module whose ``main()`` runs the node (``python -m <module>``)."""
    when: Literal["always", "sim", "robot"] = "always"
    respawn: bool = True
    remappings: tuple[tuple[str, str], ...] = ()
    publishes: tuple[str, ...] = ()
    """The topics it publishes: keys of ros.yaml ``topics`` or absolute names (its SROS2 permissions)."""
    subscribes: tuple[str, ...] = ()
    """The topics it subscribes to, likewise."""
    sim_time: bool = False
    """With the simulator, this node's ROS clock follows ``/clock`` (``use_sim_time``): it judges header stamps
    against simulated time, which falls behind the wall clock when the simulator runs slow."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"node name {self.name!r} must be a plain identifier")

    def runs(self, sim: bool) -> bool:
        return self.when == "always" or (self.when == "sim") == sim

    def uses_sim_time(self, sim: bool) -> bool:
        """Whether this node gets ``use_sim_time:=true`` in a graph run with (``sim``) or without the simulator."""
        return sim and self.sim_time


@dataclass(frozen=True)
class Graph:
    nodes: tuple[NodeSpec, ...]

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")

    def selected(self, sim: bool) -> list[NodeSpec]:
        """The nodes that run in simulation (``sim=True``) or on a robot."""
        return [n for n in self.nodes if n.runs(sim)]


RECORDER = NodeSpec(
    "recorder",
    "recorder_node",
    "nav.nodes.recorder_node",
    "always",
    respawn=False,
    subscribes=(),  # the record topics of bags.yaml
)
"""The recorder, which runs beside the graph when asked (``nav bringup --record``, ``record:=`` of the launch file)."""


def load_graph(path: str | Path = DEFAULT_GRAPH) -> Graph:
    return load(Graph, path)
