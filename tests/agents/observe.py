#!/usr/bin/env python3
"""Runs each agent CLI under strace through a scripted task and summarises what its own tools
did at the syscall level (docs/agents-testing.md was written from this output).

    observe.py [--agents claude,codex,gemini,qwen] [--dir DIR] [--keep]

The task, in a fresh git workspace with a HOME of its own: write a new file, read and edit an
existing one, read and overwrite another, write ~/.profile (new), read and edit ~/.bashrc
(existing), write a script in a directory under /tmp and run it with the shell tool, and run
`ls -la && git status --short`. For each agent DIR/AGENT/ receives strace.txt (strace -f -yy
over file, desc, process, network and io_uring calls), the agent's output, the model's request
log, and summary.md: per target file the calls that touched it in order, the processes the
agent started, its sockets, io_uring/memfd/32-bit use, and what it touched in HOME.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRACE = "%file,%desc,%process,%network,io_uring_setup,io_uring_enter,io_uring_register,memfd_create"
LINE = re.compile(r"^(\d+) (\d\d:\d\d:\d\d\.\d+) (.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\((.*)\)\s+=\s+(.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$")
STATS = {"stat", "lstat", "fstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink",
         "readlinkat", "getcwd", "statfs", "fstatfs"}
IO = {"read", "write", "pread64", "pwrite64", "readv", "writev", "lseek", "fcntl", "ioctl", "getdents64",
      "fadvise64", "flock", "fchmod", "fchown", "dup", "dup2", "dup3", "mmap", "epoll_ctl", "poll", "ppoll"}


class Call:
    __slots__ = ("pid", "time", "name", "args", "ret")

    def __init__(self, pid: int, time: str, name: str, args: str, ret: str):
        self.pid, self.time, self.name, self.args, self.ret = pid, time, name, args, ret

    def text(self) -> str:
        return f"{self.name}({self.args}) = {self.ret}"


def parse(path: Path) -> tuple[list[Call], list[str]]:
    """The completed calls of an strace -f log, unfinished and resumed halves joined; and the
    lines that are not calls (signals, exits, mode changes)."""
    pending: dict[int, str] = {}
    calls, other = [], []
    for raw in path.read_text(errors="replace").splitlines():
        match = LINE.match(raw)
        if not match:
            continue
        pid, time, rest = int(match[1]), match[2], match[3]
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = RESUMED.match(rest)
        if resumed:
            rest = pending.pop(pid, resumed[1] + "(") + resumed[2]
        call = CALL.match(rest)
        if call:
            calls.append(Call(pid, time, call[1], call[2], call[3]))
        else:
            other.append(f"{pid} {rest}")
    return calls, other


def process_names(calls: list[Call], root_name: str) -> dict[int, str]:
    """pid or tid -> the name of the program it runs (threads and forks inherit it)."""
    names: dict[int, str] = {}
    execed: set[int] = set()  # a child's exec can be logged before its parent's clone returns
    for call in calls:
        names.setdefault(call.pid, root_name)
        if call.name in ("clone", "clone3", "fork", "vfork"):
            child = re.match(r"(\d+)", call.ret)
            if child and int(child[1]) not in execed:
                names[int(child[1])] = names[call.pid]
        elif call.name == "execve" and call.ret.startswith("0"):
            program = re.match(r'"([^"]*)"', call.args)
            if program and program[1] != "/proc/self/exe":  # a re-exec of itself keeps its name
                names[call.pid] = program[1].rsplit("/", 1)[-1]
            execed.add(call.pid)
    return names


def short(call: Call) -> str:
    """A call without its noise: buffers cut, fd decorations kept."""
    args = re.sub(r'"((?:[^"\\]|\\.){60})(?:[^"\\]|\\.)*"(\.\.\.)?', r'"\1…"', call.args)
    return f"{call.name}({args}) = {call.ret}"


def condensed(lines: list[tuple[str, str]]) -> list[str]:
    """Consecutive identical (who, call-without-numbers) lines folded into one with a count."""
    out: list[str] = []
    last, count = None, 0
    for who, text in lines + [("", "")]:
        key = (who, re.sub(r"\d+", "N", text))
        if key == last:
            count += 1
            continue
        if last is not None and last != ("", ""):
            out.append(f"{prev_who:>14}  {prev_text}" + (f"   (×{count})" if count > 1 else ""))
        last, count, prev_who, prev_text = key, 1, who, text
    return out


def summarise(agent: str, trace: Path, targets: dict[str, str], home: Path) -> str:
    calls, other = parse(trace)
    names = process_names(calls, agent)
    who = lambda c: f"{names.get(c.pid, '?')}[{c.pid}]"  # noqa: E731
    out = [f"# {agent}", "", f"{len(calls)} calls traced.", ""]

    for label, path in targets.items():
        base = Path(path).name
        hits, stats = [], collections.Counter()
        for call in calls:
            text = call.args + " " + call.ret
            if base not in text:
                continue
            if call.name in STATS:
                stats[call.name] += 1
                continue
            hits.append((who(call), short(call)))
        out.append(f"## {label}: {path}")
        out.append("")
        out.append("```")
        out.extend(condensed(hits) or ["(nothing)"])
        if stats:
            out.append("stat-like: " + ", ".join(f"{n}×{k}" for k, n in sorted(stats.items())))
        out.append("```")
        out.append("")

    out += ["## Processes started (execve)", "", "```"]
    for call in calls:
        if call.name == "execve" and call.ret.startswith("0"):
            out.append(f"{call.pid:>7} {short(call)[:300]}")
    out += ["```", ""]

    def section(title: str, wanted) -> None:
        lines = [(who(c), short(c)) for c in calls if wanted(c)]
        out.extend([f"## {title}", "", "```"] + (condensed(lines)[:80] or ["(none)"]) + ["```", ""])

    section("io_uring, memfd", lambda c: c.name.startswith("io_uring") or c.name == "memfd_create")
    section("Sockets and connects", lambda c: c.name in ("socket", "connect", "bind", "listen", "socketpair"))
    section("Renames, links, truncates, fsyncs (anywhere)", lambda c: c.name.startswith(
        ("rename", "link", "symlink", "truncate", "ftruncate", "fsync", "fdatasync", "sync_file_range")))
    modes = [line for line in other if "bit mode" in line]
    out.extend(["## 32-bit mode", "", "```"] + (modes or ["(none)"]) + ["```", ""])

    home_ops: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    prefix = str(home) + "/"
    for call in calls:
        if call.name in IO:
            continue
        for path in set(re.findall(r'"(/[^"]*)"|<(/[^>]*)>', call.args + " " + call.ret)):
            text = path[0] or path[1]
            if text.startswith(prefix):
                kind = call.name
                if "O_WRONLY" in call.args or "O_RDWR" in call.args:
                    kind += "(write)"
                home_ops[text[len(prefix):]][kind] += 1
    out += [f"## Touched in HOME ({home})", "", "```"]
    for path in sorted(home_ops):
        ops = ", ".join(f"{k}×{n}" for k, n in sorted(home_ops[path].items()))
        out.append(f"~/{path}: {ops}")
    out += ["```", ""]
    return "\n".join(out)


def prepare(base: Path, agent: str) -> tuple[Path, Path, Path, dict[str, str]]:
    root = base / agent
    shutil.rmtree(root, ignore_errors=True)
    workspace, home, out = root / "ws", root / "home", root / "out"
    for d in (workspace, home, out):
        d.mkdir(parents=True)
    scratch = Path(f"/tmp/agent-observe-{agent}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    (workspace / "existing.py").write_text("VALUE = 1\n")
    (workspace / "config.json").write_text('{"debug": false}\n')
    git = ["git", "-c", "user.email=observe@example.invalid", "-c", "user.name=observe"]
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    subprocess.run(git + ["add", "."], cwd=workspace, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=workspace, check=True)
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    targets = {
        "write (new file)": f"{workspace}/src/new_module.py",
        "read + edit (existing file)": f"{workspace}/existing.py",
        "read + write over (existing file)": f"{workspace}/config.json",
        "write ~/.profile (new)": f"{home}/.profile",
        "read + edit ~/.bashrc (existing)": f"{home}/.bashrc",
        "write a script in /tmp, then run it": f"{scratch}/run.sh",
    }
    steps = [
        {"op": "write", "path": targets["write (new file)"], "content": "def greet():\n    return 'hi'\n"},
        {"op": "read", "path": f"{workspace}/existing.py"},
        {"op": "edit", "path": f"{workspace}/existing.py", "old": "VALUE = 1", "new": "VALUE = 2"},
        {"op": "read", "path": f"{workspace}/config.json"},
        {"op": "write", "path": f"{workspace}/config.json", "content": '{"debug": true}\n'},
        {"op": "write", "path": f"{home}/.profile", "content": "export PATH=$HOME/bin:$PATH\n"},
        {"op": "read", "path": f"{home}/.bashrc"},
        {"op": "edit", "path": f"{home}/.bashrc", "old": "alias ll='ls -l'", "new": "alias ll='ls -la'"},
        {"op": "write", "path": f"{scratch}/run.sh", "content": "#!/bin/sh\necho ran-script\n"},
        {"op": "shell", "command": f"chmod +x {scratch}/run.sh && {scratch}/run.sh"},
        {"op": "shell", "command": "ls -la && git status --short"},
    ]
    (root / "script.json").write_text(json.dumps({"steps": steps, "answer": "All done."}, indent=1))
    return workspace, home, out, targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="claude,codex,gemini,qwen")
    parser.add_argument("--dir", default="/var/tmp/agent-observe")
    parser.add_argument("--tools")
    args = parser.parse_args()
    if not shutil.which("strace"):
        print("strace is missing: apt-get install strace", file=sys.stderr)
        return 2
    base = Path(args.dir)
    for agent in args.agents.split(","):
        workspace, home, out, targets = prepare(base, agent)
        trace = base / agent / "strace.txt"
        command = [sys.executable, str(HERE / "run_agent.py"), "run", "--agent", agent,
                   "--script", str(base / agent / "script.json"), "--workspace", str(workspace),
                   "--home", str(home), "--out", str(out), "--timeout", "300"]
        if args.tools:
            command += ["--tools", args.tools]
        command += ["--", "strace", "-f", "-tt", "-s", "200", "-yy", "-e", f"trace={TRACE}", "-o", str(trace)]
        result = subprocess.run(command, capture_output=True, text=True)
        print(result.stdout.strip() or result.stderr.strip(), flush=True)
        if trace.exists():
            summary = summarise(agent, trace, targets, home)
            (base / agent / "summary.md").write_text(summary)
            print(f"  {base / agent / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
