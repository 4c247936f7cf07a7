"""A scripted model: speaks enough of four providers' APIs for a coding agent to run a fixed list
of tool calls, then finish with a text answer.

Python 3.11 standard library only. Binds 127.0.0.1 on a free port.

The script is JSON: {"steps": [STEP, ...], "answer": "text"}, where a STEP is one of
    {"op": "write", "path": P, "content": C}        the agent's own write tool
    {"op": "edit",  "path": P, "old": O, "new": N}  its edit (string replace) tool
    {"op": "read",  "path": P}                      its read tool
    {"op": "shell", "command": C}                   its shell tool
Paths are absolute. An agent that has no tool for a step (Codex has no read tool) gets the step
done by its shell tool instead (`cat`), and the request log says so.

The server is stateless: the step to answer is the number of tool results already in the
conversation the agent sends (every agent sends its whole history on each turn). A request with
no tools is a side request (a title, a "who speaks next" check, a routing classifier): it gets a
short text, or a JSON object shaped by the request's schema when it asks for JSON.

Wire formats:
    Anthropic Messages      POST /v1/messages (SSE when "stream": true), /v1/messages/count_tokens
    OpenAI Responses        POST /v1/responses (SSE)
    OpenAI Chat Completions POST /v1/chat/completions (SSE when "stream": true)
    Gemini                  POST /v1beta/models/M:generateContent, :streamGenerateContent (?alt=sse),
                            :countTokens
Anything else gets 404 and is logged.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Tool names each agent family uses, in order of preference, per abstract operation.
WRITE_TOOLS = ("Write", "write_file", "WriteFile")
EDIT_TOOLS = ("Edit", "replace", "edit", "Replace")
READ_TOOLS = ("Read", "read_file", "ReadFile")
SHELL_TOOLS = ("Bash", "run_shell_command", "shell_command", "exec_command", "shell")
PATCH_TOOLS = ("apply_patch",)


class Tool:
    """A tool the agent offered: its name, JSON-schema parameters, and whether it is a
    free-form ("custom") tool that takes raw text rather than JSON arguments."""

    def __init__(self, name: str, schema: dict | None, freeform: bool = False):
        self.name = name
        self.schema = schema or {}
        self.freeform = freeform

    def properties(self) -> dict:
        return self.schema.get("properties") or {}

    def pick(self, *names: str) -> str | None:
        props = self.properties()
        return next((n for n in names if n in props), None)


def fill_required(tool: Tool, args: dict) -> dict:
    """Gives every required parameter the script did not set a plain value of its type."""
    props = tool.properties()
    for name in tool.schema.get("required") or []:
        if name not in args:
            args[name] = example_of(props.get(name) or {})
    return args


def example_of(schema: dict) -> Any:
    kind = (schema.get("type") or "string")
    kind = kind.lower() if isinstance(kind, str) else "string"
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: example_of(props[k]) for k in (schema.get("required") or props.keys())}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return "scripted"


def shell_call(tools: dict[str, Tool], command: str) -> tuple[Tool, Any]:
    tool = next((tools[n] for n in SHELL_TOOLS if n in tools), None)
    if tool is None:
        raise LookupError(f"the agent offered no shell tool (tools: {sorted(tools)})")
    key = tool.pick("command", "cmd") or "command"
    spec = tool.properties().get(key) or {}
    value: Any = command
    if spec.get("type") == "array":
        value = ["bash", "-lc", command]
    args = {key: value}
    if tool.pick("description"):
        args["description"] = "scripted step"
    workdir = tool.pick("workdir", "directory", "dir_path")
    if workdir and workdir in (tool.schema.get("required") or []):
        args[workdir] = "."
    return tool, fill_required(tool, args)


def patch_text(step: dict) -> str:
    if step["op"] == "write":
        body = "".join(f"+{line}\n" for line in step["content"].splitlines())
        return f"*** Begin Patch\n*** Add File: {step['path']}\n{body}*** End Patch\n"
    # A patch replaces whole lines: the lines of the file that hold the old text.
    try:
        with open(step["path"], encoding="utf-8") as current:
            lines = [line for line in current.read().splitlines() if step["old"] in line]
    except OSError:
        lines = step["old"].splitlines()
    old = "".join(f"-{line}\n" for line in lines)
    new = "".join(f"+{line.replace(step['old'], step['new'])}\n" for line in lines)
    return f"*** Begin Patch\n*** Update File: {step['path']}\n@@\n{old}{new}*** End Patch\n"


def path_args(tool: Tool, path: str) -> dict:
    key = tool.pick("file_path", "absolute_path", "path", "filePath") or "file_path"
    return {key: path}


def tool_call(tools: dict[str, Tool], step: dict) -> tuple[Tool, Any, str]:
    """The agent's tool for a script step and its arguments, and how the step is carried out
    (`tool`, `patch`, or `shell-fallback`)."""
    op = step["op"]
    if op == "shell":
        tool, args = shell_call(tools, step["command"])
        return tool, args, "tool"
    by_op = {"write": WRITE_TOOLS, "edit": EDIT_TOOLS, "read": READ_TOOLS}[op]
    tool = next((tools[n] for n in by_op if n in tools), None)
    if tool is not None:
        args = path_args(tool, step["path"])
        if op == "write":
            args[tool.pick("content", "contents") or "content"] = step["content"]
        elif op == "edit":
            args[tool.pick("old_string", "oldString", "old_str") or "old_string"] = step["old"]
            args[tool.pick("new_string", "newString", "new_str") or "new_string"] = step["new"]
        return tool, fill_required(tool, args), "tool"
    patch = next((tools[n] for n in PATCH_TOOLS if n in tools), None)
    if patch is not None and op in ("write", "edit"):
        text = patch_text(step)
        return patch, (text if patch.freeform else {"input": text}), "patch"
    # No tool for it: the shell does it.
    if op == "read":
        command = f"cat {quote(step['path'])}"
    elif op == "write":
        command = f"cat > {quote(step['path'])} <<'SCRIPTED_EOF'\n{step['content']}\nSCRIPTED_EOF"
    else:
        command = f"sed -i 's/{step['old']}/{step['new']}/' {quote(step['path'])}"
    tool, args = shell_call(tools, command)
    return tool, args, "shell-fallback"


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def json_for_schema(schema: dict | None) -> str:
    """A JSON answer to a side request that asked for JSON: who speaks next is the user, nothing
    loops, and the rest gets plain values of the schema's types."""
    value = example_of(schema or {"type": "object"})
    if isinstance(value, dict):
        for key in value:
            if key == "next_speaker":
                value[key] = "user"
            elif key.startswith("is") or key.endswith("_loop") or key == "isNewTopic":
                value[key] = False
    return json.dumps(value)


class Script:
    def __init__(self, script: dict, log_path: str | None = None, dump_requests: bool = False):
        self.steps: list[dict] = script.get("steps", [])
        self.answer: str = script.get("answer", "Done.")
        self.log_path = log_path
        self.dump = dump_requests
        self.lock = threading.Lock()
        self.served: list[int] = []
        self.finished = False

    def log(self, record: dict) -> None:
        record["time"] = round(time.time(), 3)
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")

    def decide(self, tools: dict[str, Tool], results: int) -> dict:
        """What the model says next: a step's tool call, or the final answer."""
        if results < len(self.steps):
            step = self.steps[results]
            tool, args, how = tool_call(tools, step)
            with self.lock:
                self.served.append(results)
            return {"kind": "tool", "tool": tool, "args": args, "how": how, "index": results, "step": step}
        with self.lock:
            self.finished = True
        return {"kind": "text", "text": self.answer}


# --- Anthropic Messages -------------------------------------------------------------------------

def anthropic(script: Script, body: dict) -> tuple[dict, list]:
    tools = {t["name"]: Tool(t["name"], t.get("input_schema")) for t in body.get("tools") or [] if "name" in t}
    results = sum(
        1
        for m in body.get("messages") or []
        if m.get("role") == "user" and isinstance(m.get("content"), list)
        for block in m["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    )
    if not tools:
        decision = {"kind": "text", "text": side_text(body)}
    else:
        decision = script.decide(tools, results)
    if decision["kind"] == "tool":
        block = {"type": "tool_use", "id": f"toolu_{decision['index']:04d}", "name": decision["tool"].name,
                 "input": decision["args"]}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": decision["text"]}
        stop = "end_turn"
    message = {
        "id": f"msg_{int(time.time() * 1000)}", "type": "message", "role": "assistant",
        "model": body.get("model", "scripted"), "content": [block], "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }
    if not body.get("stream"):
        return decision, [message]
    start = dict(message, content=[], stop_reason=None)
    if block["type"] == "tool_use":
        opening = dict(block, input={})
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        opening = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": opening}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": {"output_tokens": 10}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return decision, events


def side_text(body: dict) -> str:
    text = json.dumps(body.get("system", ""))[:2000].lower()
    if "json" in text:
        return json.dumps({"isNewTopic": False, "title": None})
    return "Scripted side answer."


# --- OpenAI Responses ---------------------------------------------------------------------------

def responses(script: Script, body: dict) -> tuple[dict, list]:
    tools: dict[str, Tool] = {}
    for t in body.get("tools") or []:
        if t.get("type") == "function" and "name" in t:
            tools[t["name"]] = Tool(t["name"], t.get("parameters"))
        elif t.get("type") == "custom" and "name" in t:
            tools[t["name"]] = Tool(t["name"], None, freeform=True)
    items = body.get("input") or []
    results = sum(1 for i in items if isinstance(i, dict) and i.get("type") in (
        "function_call_output", "custom_tool_call_output", "local_shell_call_output"))
    decision = script.decide(tools, results) if tools else {"kind": "text", "text": "Scripted side answer."}
    rid = f"resp_{int(time.time() * 1000)}"
    if decision["kind"] == "tool":
        call_id = f"call_{decision['index']:04d}"
        tool = decision["tool"]
        if tool.freeform:
            item = {"type": "custom_tool_call", "id": f"ctc_{call_id}", "status": "completed",
                    "call_id": call_id, "name": tool.name, "input": decision["args"]}
        else:
            item = {"type": "function_call", "id": f"fc_{call_id}", "status": "completed",
                    "call_id": call_id, "name": tool.name, "arguments": json.dumps(decision["args"])}
    else:
        item = {"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": decision["text"], "annotations": []}]}
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 10,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 20}
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": body.get("model", "scripted"), "output": [item], "usage": usage}
    if not body.get("stream", True):
        return decision, [response]
    events = [
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": dict(response, status="in_progress", output=[])}),
        ("response.output_item.added", {"type": "response.output_item.added", "sequence_number": 1,
                                        "output_index": 0, "item": item}),
        ("response.output_item.done", {"type": "response.output_item.done", "sequence_number": 2,
                                       "output_index": 0, "item": item}),
        ("response.completed", {"type": "response.completed", "sequence_number": 3, "response": response}),
    ]
    return decision, events


# --- OpenAI Chat Completions --------------------------------------------------------------------

def chat(script: Script, body: dict) -> tuple[dict, list]:
    tools = {}
    for t in body.get("tools") or []:
        fn = t.get("function") or {}
        if "name" in fn:
            tools[fn["name"]] = Tool(fn["name"], fn.get("parameters"))
    results = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
    if tools:
        decision = script.decide(tools, results)
    else:
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        text = json_for_schema(schema) if fmt.get("type", "text") != "text" else "Scripted side answer."
        decision = {"kind": "text", "text": text}
    cid = f"chatcmpl-{int(time.time() * 1000)}"
    model = body.get("model", "scripted")
    usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    if decision["kind"] == "tool":
        call = {"index": 0, "id": f"call_{decision['index']:04d}", "type": "function",
                "function": {"name": decision["tool"].name, "arguments": json.dumps(decision["args"])}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": decision["text"]}
        finish = "stop"
    if not body.get("stream"):
        plain = dict(message)
        if "tool_calls" in plain:
            plain["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in plain["tool_calls"]]
        return decision, [{"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                           "choices": [{"index": 0, "message": plain, "finish_reason": finish}], "usage": usage}]

    def chunk(delta: dict, finish_reason: str | None, with_usage: bool = False) -> dict:
        out = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if with_usage:
            out["usage"] = usage
        return out

    events = [(None, chunk(message, None)), (None, chunk({}, finish, with_usage=True)), (None, "[DONE]")]
    return decision, events


# --- Gemini -------------------------------------------------------------------------------------

def gemini(script: Script, body: dict, stream: bool) -> tuple[dict, list]:
    tools = {}
    for group in body.get("tools") or []:
        for fn in group.get("functionDeclarations") or group.get("function_declarations") or []:
            if "name" in fn:
                schema = fn.get("parametersJsonSchema") or fn.get("parameters")
                tools[fn["name"]] = Tool(fn["name"], lower_types(schema))
    results = sum(
        1
        for content in body.get("contents") or []
        for part in content.get("parts") or []
        if isinstance(part, dict) and ("functionResponse" in part or "function_response" in part)
    )
    config = body.get("generationConfig") or body.get("generation_config") or {}
    if tools:
        decision = script.decide(tools, results)
    elif "json" in str(config.get("responseMimeType", "")):
        schema = config.get("responseJsonSchema") or lower_types(config.get("responseSchema"))
        decision = {"kind": "text", "text": json_for_schema(schema)}
    else:
        decision = {"kind": "text", "text": "Scripted side answer."}
    if decision["kind"] == "tool":
        part = {"functionCall": {"name": decision["tool"].name, "args": decision["args"]}}
    else:
        part = {"text": decision["text"]}
    response = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20},
        "modelVersion": "scripted",
    }
    if stream:
        return decision, [(None, response)]
    return decision, [response]


def lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-style schemas spell types in capitals (OBJECT, STRING)."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [lower_types(v) for v in schema]
    return schema


# --- HTTP ---------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted-model/1"
    script: Script

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self.script.log({"method": "GET", "path": self.path, "status": 404})
        self.reply_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        path = self.path.split("?", 1)[0]
        record: dict[str, Any] = {"method": "POST", "path": self.path}
        if self.script.dump:
            record["body"] = body
        try:
            if path.endswith("/messages/count_tokens"):
                decision, payloads, sse = None, [{"input_tokens": 10}], False
            elif path.endswith("/messages"):
                decision, payloads = anthropic(self.script, body)
                sse = bool(body.get("stream"))
            elif path.endswith("/responses"):
                decision, payloads = responses(self.script, body)
                sse = bool(body.get("stream", True))
            elif path.endswith("/chat/completions"):
                decision, payloads = chat(self.script, body)
                sse = bool(body.get("stream"))
            elif path.endswith(":countTokens"):
                decision, payloads, sse = None, [{"totalTokens": 10}], False
            elif path.endswith(":streamGenerateContent"):
                decision, payloads = gemini(self.script, body, stream=True)
                sse = "alt=sse" in self.path
                if not sse:  # a JSON array of responses
                    payloads = [[p for _, p in payloads]]
            elif path.endswith(":generateContent"):
                decision, payloads = gemini(self.script, body, stream=False)
                sse = False
            else:
                self.script.log(dict(record, status=404))
                self.reply_json(404, {"error": {"message": f"no such endpoint {path}", "type": "not_found"}})
                return
        except LookupError as error:
            self.script.log(dict(record, status=400, error=str(error)))
            self.reply_json(400, {"error": {"message": str(error), "type": "invalid_request_error"}})
            return
        if decision is not None:
            record["reply"] = describe(decision)
        self.script.log(dict(record, status=200))
        if sse:
            self.reply_sse(payloads)
        else:
            self.reply_json(200, payloads[0])

    def reply_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_sse(self, events: list) -> None:
        chunks = []
        for name, payload in events:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            chunks.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
        data = "".join(chunks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def describe(decision: dict) -> dict:
    if decision["kind"] == "tool":
        return {"step": decision["index"], "op": decision["step"]["op"], "tool": decision["tool"].name,
                "how": decision["how"]}
    return {"text": decision["text"][:80]}


def start(script: Script) -> ThreadingHTTPServer:
    """Starts the server on 127.0.0.1 on a free port, in a daemon thread."""
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
