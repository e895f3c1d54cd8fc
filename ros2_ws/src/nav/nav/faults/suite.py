"""``nav faults``: the graph in robot mode with a scripted robot, each fault injected in turn, one table.

The graph is what ``nav bringup`` runs on a robot (agent, resource monitor, mux, joystick teleop),
plus the recorder. It runs on a copy of the models folder in which one variant's weights file has
been altered (its sha256 no longer matches its manifest): the agent must refuse that variant and
run the others for the whole suite. The rows, in order:

1. ``tampered model`` (issue 18 item 2), judged from the agent's diagnostics and the log over the run;
2. every fault of :data:`nav.faults.catalogue.FAULTS` (or those named with ``--only``);
3. ``recording killed`` (item 6): the recorder SIGKILLed, the bag repaired with ``nav bag repair``'s
   code, the repaired file opened by the ``mcap`` library (Foxglove's reader).

Each row says what was expected, what was observed (time to zero in ms against the configured
limit, the log line and diagnostic that said why) and pass or fail (:mod:`nav.faults.judge`).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nav.faults.catalogue import FAULTS
from nav.faults.judge import Row
from nav.faults.session import Limits, LogLines, Session

if TYPE_CHECKING:
    from nav.faults.robot import Diagnostic

__all__ = ["FaultSuiteConfig", "run_suite"]

INSTRUCTION = "go to the red cube"
CHUNK_WRITE_S = 0.25
"""s: a chunk closed at the flush is still being compressed and written when the kill comes."""
STARTUP_S = 120.0
"""s: the graph comes up (the agent loads the encoder and every variant) and drives."""
AGENT_DIAGNOSTICS_S = 5.0
"""How long the tampered row waits for the agent's first diagnostics (it publishes them at 1 Hz)."""


@dataclass(frozen=True)
class FaultSuiteConfig:
    only: tuple[str, ...] = ()
    """Run only these faults (names of :data:`FAULTS`); the tampered-model and recording rows always run."""
    domain_id: int = 201
    """ROS domain of the suite's graph; discovery is kept to this machine."""
    models_dir: Path | None = None
    """The models to copy (default: ``agent.models_dir`` of ros.yaml)."""
    tamper: str = "large"
    """The variant whose weights the copy alters."""
    out_dir: Path | None = None
    """Keep the node logs and the bags here (default: a temporary folder, removed)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.only) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault {unknown}; the faults: {', '.join(FAULTS)}")
        if not 0 <= self.domain_id <= 232:
            raise ValueError(f"domain_id must be 0..232, got {self.domain_id}")


def tampered_copy(source: Path, destination: Path, variant: str) -> Path:
    """Copy the models folder, then flip one byte of ``variant``'s weights (the manifest's sha256 no longer fits)."""
    if not (source / variant / "manifest.json").exists():
        raise ValueError(f"{source}: no variant {variant!r} to tamper with")
    shutil.copytree(source, destination)
    weights = next((destination / variant).glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    return destination


def run_suite(config: FaultSuiteConfig, log: Callable[[str], None] = print) -> list[Row]:
    from nav.faults.robot import ScriptedRobot
    from nav.graph.supervisor import BringupConfig, GraphProcesses
    from nav.runtime.config import load_ros_config, resolve_models_dir

    ros = load_ros_config()
    keep = config.out_dir is not None
    out = config.out_dir if config.out_dir is not None else Path(tempfile.mkdtemp(prefix="nav-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    source = Path(config.models_dir) if config.models_dir else resolve_models_dir(ros.agent.models_dir)
    models = tampered_copy(source, out / "models", config.tamper)
    bag = out / "bag"
    env = {"ROS_DOMAIN_ID": str(config.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update(env)  # this process's robot, too
    bringup = BringupConfig(
        sim=False,
        node_params={"agent": {"models_dir": str(models)}, "resource_monitor": {"models_dir": str(models)}},
        env=env,
        log_dir=out / "logs",
        record=bag,
    )
    limits = Limits.of(ros, bringup)
    robot = ScriptedRobot(ros, config.domain_id, INSTRUCTION)
    rows: list[Row] = []
    try:
        lines = LogLines()
        graph = GraphProcesses(bringup, out=lines.add)
        session = Session(graph, robot, lines, limits)
        with graph:
            log(f"faults: graph up on ROS domain {config.domain_id}; models {models} ({config.tamper} tampered)")
            started = time.monotonic()
            session.ensure_driving(STARTUP_S)
            robot.say_instruction = False  # said once: a restarted agent must remember it (item 3)
            log(f"faults: driving {time.monotonic() - started:.1f} s after the start")
            names = [n for n in FAULTS if not config.only or n in config.only]
            for name in names:
                row = FAULTS[name](session)
                rows.append(row)
                log(f"faults: {name}: {'pass' if row.passed else 'FAIL ' + '; '.join(row.problems)}")
            rows.insert(0, tampered_row(session, config.tamper))
            rows.append(killed_recording_row(session, bag, out / "repaired"))
        for row in rows:  # the table names the suite's own files from its folder
            row.observed, row.message = (text.replace(f"{out}/", "") for text in (row.observed, row.message))
    finally:
        robot.close()
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    return rows


def tampered_row(s: Session, variant: str) -> Row:
    """Item 2, over the whole run: the altered variant refused with the reason, the intact ones driving."""
    row = Row(
        f"the {variant} variant's weights altered (item 2)",
        "the agent loads the intact variants and drives; the altered one refused on the log and diagnostics; "
        "the resource monitor never picks it",
    )
    row.said("log line", s.log_line(0.0, rf"\[agent\].*variant '{variant}' refused: .*sha256", timeout=0.0))

    def agent_diagnostics() -> list[Diagnostic]:
        return [d for d in s.robot.diagnostics_since(0.0) if d.name == "nav: agent"]

    # The agent publishes its diagnostics once a second: a short run (``--only``) may end before the first.
    s.wait(lambda: bool(agent_diagnostics()), AGENT_DIAGNOSTICS_S)
    agent = agent_diagnostics()
    refused = {d.values.get("refused_variants", "") for d in agent}
    loaded = {d.values.get("loaded_variants", "") for d in agent}
    if not any(variant in r for r in refused):
        row.problems.append(f"the agent's diagnostics never named {variant} among refused_variants")
    if any(variant in lv.split(",") for lv in loaded):
        row.problems.append(f"the agent loaded {variant}")
    picked = [t for _, t in s.lines() if f"switching to variant '{variant}'" in t or "variant switch refused" in t]
    if picked:
        row.problems.append(f"the {variant} variant was asked for: {picked[0]}")
    row.observed = f"loaded {', '.join(sorted(loaded))}; refused {'; '.join(sorted(r for r in refused if r))}"
    return row


def killed_recording_row(s: Session, bag: Path, repaired: Path) -> Row:
    """Item 6: SIGKILL the recorder; the repaired bag opens in the ``mcap`` library, losing at most a flush."""
    from mcap.reader import make_reader

    from nav.bags.config import load_bag_config
    from nav.bags.repair import repair_bag

    flush_s = load_bag_config().record.flush_s
    row = Row(
        "recording killed (SIGKILL) (item 6)",
        f"`nav bag repair` writes a bag the mcap library opens, losing at most record.flush_s ({flush_s:g} s) "
        f"and the chunk being written ({CHUNK_WRITE_S:g} s)",
    )
    pid = s.graph.pids().get("recorder")
    if pid is None:
        row.problems.append("the recorder was not running")
        return row
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    s.wait(lambda: "recorder" not in s.graph.pids(), 5.0)
    try:
        summary = repair_bag(bag, repaired)
        files = sorted(repaired.glob("*.mcap"))
        with files[0].open("rb") as f:
            last_ns, count = 0, 0
            for _, _, message in make_reader(f).iter_messages():
                last_ns, count = max(last_ns, message.log_time), count + 1
    except Exception as exc:  # the row reports any failure to repair or to read: that is what it measures
        row.problems.append(f"{type(exc).__name__}: {exc}")
        return row
    lost = killed_at - last_ns * 1e-9
    row.observed = f"{count} messages in the repaired bag; the last {lost:.2f} s before the kill"
    row.message = "; ".join(summary["notes"])
    if lost > flush_s + CHUNK_WRITE_S:
        row.problems.append(f"lost {lost:.2f} s > record.flush_s {flush_s:g} s + {CHUNK_WRITE_S:g} s")
    return row
