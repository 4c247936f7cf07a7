#!/usr/bin/env python3
"""Runs a real coding agent CLI against the scripted model, non-interactively, with a HOME of its
own holding only the configuration it needs.

    run_agent.py run --agent claude --script S.json --workspace W --home H --out O [-- WRAPPER...]
    run_agent.py serve --script S.json [--log L]        (only the model; prints "port N")

`run` starts the model on 127.0.0.1, writes the agent's configuration into H (H must exist),
runs `WRAPPER... AGENT ARGS...` in W with a clean environment (PATH, HOME, the agent's
endpoint, dummy API keys, telemetry and update checks off), waits for it (--timeout), and prints
one JSON line: the agent, its exit code, whether the model reached the final answer, which steps
were served and how long it took. O receives the agent's stdout, stderr and the request log.

WRAPPER is what runs the agent: `agent-sensor watch --events E --`, `strace -f -o F`, or
nothing; --env KEY=VALUE adds to the clean environment both get. The agents are the ones `cargo xtask agents install` puts in
$AGENT_SENSOR_TOOLS/agents (default ~/.cache/agent-sensor/agents), or --tools DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_server  # noqa: E402

PROMPT = "Carry out the scripted task in this directory."

# Settings shared by Gemini CLI and Qwen Code (a fork of it): no telemetry, no update checks,
# no IDE integration, a fixed auth type.
GEMINI_LIKE_SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True, "checkpointing": {"enabled": False}},
    "ide": {"enabled": False, "hasSeenNudge": True},
    "ui": {"hideTips": True, "hideBanner": True},
    "tools": {"useRipgrep": True},
}


def tools_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("AGENT_SENSOR_TOOLS"):
        return Path(os.environ["AGENT_SENSOR_TOOLS"]) / "agents"
    return Path(os.environ.get("HOME", "/root")) / ".cache/agent-sensor/agents"


def configure(agent: str, home: Path, workspace: Path, base: str) -> tuple[list[str], dict[str, str]]:
    """Writes the agent's configuration into `home`; returns its arguments and environment."""
    if agent == "claude":
        # -p prints the answer and exits; bypassPermissions runs every tool without asking.
        # As root Claude Code refuses to bypass permissions unless IS_SANDBOX=1.
        (home / ".claude").mkdir(exist_ok=True)
        write_json(home / ".claude.json", {"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True})
        args = ["-p", PROMPT, "--permission-mode", "bypassPermissions", "--output-format", "text",
                "--model", "sonnet"]
        env = {
            "ANTHROPIC_BASE_URL": base,
            "ANTHROPIC_API_KEY": "sk-ant-scripted",
            "IS_SANDBOX": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
            "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        }
        return args, env
    if agent == "codex":
        codex_home = home / ".codex"
        codex_home.mkdir(exist_ok=True)
        (codex_home / "config.toml").write_text(
            "\n".join([
                'model = "gpt-5.5"',
                'model_provider = "scripted"',
                "check_for_update_on_startup = false",
                "",
                "[model_providers.scripted]",
                'name = "scripted"',
                f'base_url = "{base}/v1"',
                'env_key = "OPENAI_API_KEY"',
                'wire_api = "responses"',
                "request_max_retries = 0",
                "stream_max_retries = 0",
                "",
                # Plugins sync a curated marketplace from GitHub at start-up (git ls-remote).
                "[features]",
                "plugins = false",
                "",
                "[analytics]",
                "enabled = false",
                "",
                "[otel]",
                'exporter = "none"',
                "",
            ])
        )
        args = ["exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
                "--color", "never", "-C", str(workspace), PROMPT]
        env = {"CODEX_HOME": str(codex_home), "OPENAI_API_KEY": "sk-scripted"}
        return args, env
    if agent == "gemini":
        settings = dict(GEMINI_LIKE_SETTINGS, security={"auth": {"selectedType": "gemini-api-key"}})
        write_json(home / ".gemini/settings.json", settings)
        args = ["-y", "-p", PROMPT, "--model", "gemini-2.5-flash"]
        env = {"GEMINI_API_KEY": "scripted", "GOOGLE_GEMINI_BASE_URL": base,
               "GEMINI_CLI_TRUST_WORKSPACE": "true"}
        return args, env
    if agent == "qwen":
        settings = dict(GEMINI_LIKE_SETTINGS, security={"auth": {"selectedType": "openai"}})
        write_json(home / ".qwen/settings.json", settings)
        args = ["-y", "-p", PROMPT]
        env = {"OPENAI_API_KEY": "sk-scripted", "OPENAI_BASE_URL": f"{base}/v1", "OPENAI_MODEL": "scripted",
               "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1"}
        return args, env
    raise SystemExit(f"unknown agent {agent!r}: claude, codex, gemini or qwen")


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def base_env(home: Path) -> dict[str, str]:
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {
        "PATH": path,
        "HOME": str(home),
        "USER": os.environ.get("USER", "root"),
        "LOGNAME": os.environ.get("LOGNAME", "root"),
        "SHELL": "/bin/bash",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CI": os.environ.get("CI", ""),
    }


def run(options: argparse.Namespace) -> int:
    script = json.loads(Path(options.script).read_text())
    out = Path(options.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    home, workspace = Path(options.home).resolve(), Path(options.workspace).resolve()
    log = out / "requests.jsonl"
    log.unlink(missing_ok=True)
    model = model_server.Script(script, str(log), dump_requests=options.dump)
    server = model_server.start(model)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    args, agent_env = configure(options.agent, home, workspace, base)
    binary = tools_dir(options.tools) / options.agent / "bin" / options.agent
    if not binary.exists():
        print(f"{binary} is missing: run `cargo xtask agents install`", file=sys.stderr)
        return 3
    env = base_env(home)
    env.update(agent_env)
    env.update(dict(item.split("=", 1) for item in options.env))
    command = list(options.wrapper) + [str(binary)] + args
    started = time.monotonic()
    with open(out / "stdout.txt", "wb") as stdout, open(out / "stderr.txt", "wb") as stderr:
        child = subprocess.Popen(command, cwd=workspace, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                 stderr=stderr, start_new_session=True)
        try:
            code = child.wait(timeout=options.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
    server.shutdown()
    summary = {
        "agent": options.agent,
        "exit_code": code,
        "timed_out": code is None,
        "finished": model.finished,
        "steps": len(model.steps),
        "served": sorted(set(model.served)),
        "seconds": round(time.monotonic() - started, 2),
    }
    print(json.dumps(summary), flush=True)
    return 0


def serve(options: argparse.Namespace) -> int:
    script = json.loads(Path(options.script).read_text())
    server = model_server.start(model_server.Script(script, options.log, dump_requests=options.dump))
    print(f"port {server.server_address[1]}", flush=True)
    try:
        sys.stdin.read()  # until whoever started us closes our stdin
    finally:
        server.shutdown()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--agent", required=True)
    run_p.add_argument("--script", required=True)
    run_p.add_argument("--workspace", required=True)
    run_p.add_argument("--home", required=True)
    run_p.add_argument("--out", required=True)
    run_p.add_argument("--tools")
    run_p.add_argument("--timeout", type=float, default=180)
    run_p.add_argument("--dump", action="store_true", help="log request bodies too")
    run_p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                       help="one more environment variable for WRAPPER and the agent (repeatable)")
    run_p.add_argument("wrapper", nargs="*")
    serve_p = sub.add_parser("serve")
    serve_p.add_argument("--script", required=True)
    serve_p.add_argument("--log")
    serve_p.add_argument("--dump", action="store_true")
    options = parser.parse_args()
    return run(options) if options.command == "run" else serve(options)


if __name__ == "__main__":
    sys.exit(main())
