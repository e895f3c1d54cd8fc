"""The markdown report of ``nav replay-eval``, with its plots (matplotlib, headless). Pure Python."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nav.bags.replay_eval import VariantResult

__all__ = ["write_report"]


def _plot_commands(path: Path, results: Sequence[VariantResult]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    t0 = results[0].times[0] if len(results[0].times) else 0.0
    ref = results[0]
    for ax, col, label in ((axes[0], 0, "linear (m/s)"), (axes[1], 1, "angular (rad/s)")):
        ax.plot(ref.times - t0, ref.references[:, col], color="black", lw=2.0, label="reference")
        for r in results:
            ax.plot(r.times - t0, r.commands[:, col], lw=1.0, label=r.variant)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("bag time (s)")
    fig.suptitle("commands: reference vs. model variants")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_latency(path: Path, results: Sequence[VariantResult]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.hist(r.latency_ms, bins=40, alpha=0.6, label=r.variant)
    ax.set_xlabel("per-tick latency: pre-processing + model (ms)")
    ax.set_ylabel("ticks")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(out_dir: str | Path, summary: dict[str, Any], results: Sequence[VariantResult]) -> Path:
    """``report.md``, ``commands.png``, ``latency.png`` and ``summary.json`` in ``out_dir``; the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _plot_commands(out / "commands.png", results)
    _plot_latency(out / "latency.png", results)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n")
    topics = summary["topics"]
    lines = [
        f"# Replay evaluation of `{summary['bag']}`",
        "",
        f"- recorded duration: {summary['duration_s']:.1f} s, {summary['input_messages']} input messages "
        f"({summary['storage']}{', recovered from an unfinished recording' if summary['recovered'] else ''})",
        f"- camera: {', '.join(topics['camera']) or 'none'}; scan: {topics['scan'] or topics['points']}; "
        f"instruction: {topics['instruction'] or 'command line'}; reference: {topics['reference']}",
        f"- ticks at {summary['control_hz']:g} Hz on bag time"
        if summary["align"] == "control"
        else "- ticks at each reference command",
    ]
    if summary["lidar_only"]:
        lines.append("- **LIDAR ONLY**: the bag has no camera; the model saw a blank image")
    lines += [f"- note: {n}" for n in summary["notes"]]
    if summary["rejected_messages"]:
        lines.append(f"- rejected messages (as the agent node would drop them): {summary['rejected_messages']}")
    lines += [
        "",
        "| variant | compared ticks | MAE linear (m/s) | MAE angular (rad/s) | turn sign agreement | stop/go accuracy "
        "| latency p50 / p99 (ms) | messages/s | real-time factor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = r.metrics
        lines.append(
            f"| {r.variant} | {m['compared_ticks']} / {m['ticks']} | {m['mae_linear']:.3f} | {m['mae_angular']:.3f} "
            f"| {m['turn_sign_agreement']:.2f} | {m['stop_go_accuracy']:.2f} "
            f"| {m['latency_p50_ms']:.2f} / {m['latency_p99_ms']:.2f} | {m['messages_per_second']:.0f} "
            f"| {m['real_time_factor']:.1f}x |"
        )
    lines += ["", "Stop/go confusion (rows: reference, columns: model):", ""]
    for r in results:
        c = r.metrics["stop_go_confusion"]
        lines += [
            f"**{r.variant}**",
            "",
            "| | model stop | model go |",
            "|---|---:|---:|",
            f"| reference stop | {c['reference_stop_model_stop']} | {c['reference_stop_model_go']} |",
            f"| reference go | {c['reference_go_model_stop']} | {c['reference_go_model_go']} |",
            "",
        ]
        if r.stop_reasons:
            lines += [f"Ticks the core held zero: {r.stop_reasons}", ""]
    rtf = ", ".join(f"{r.variant} {r.metrics['real_time_factor']:.1f}x" for r in results)
    lines += [
        f"Real-time factor (recorded duration / evaluation wall time, bag reading and decoding included): {rtf}.",
        "",
        "![commands](commands.png)",
        "",
        "![latency](latency.png)",
        "",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
