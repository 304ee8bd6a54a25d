"""Runs one aws:executeScript handler for fleetrun and records what it returned.

This file is static: fleetrun-script compiles it in and copies it into each run's private
directory; it is never generated or edited per run. Every input arrives on the command line as a
path or a name, never as code:

    python3 -B -s -u wrapper.py CODE_DIR HANDLER EVENTS_JSON CONTEXT_JSON RESULT_JSON

HANDLER is "function" (a function of the inline script, module customer_script) or
"module.function" (a module of an attachment, possibly dotted: "package.module.function").
The wrapper calls HANDLER(events, context) and writes one JSON object to RESULT_JSON:
{"ok": true, "payload": <return value>} or {"ok": false, "error": "<traceback or message>"}.
Anything the handler prints is the step's log; the wrapper prints nothing itself.
It must stay compatible with every Python 3 from 3.6 on.
"""

import importlib
import json
import sys
import traceback

INLINE_MODULE = "customer_script"
# Frames of these files are the machinery between the wrapper and the customer's code.
MACHINERY_FILES = (__file__, importlib.__file__)


class HandlerProblem(Exception):
    """A problem with the handler or its return value, reported as a message without traceback."""


def main():
    code_dir, handler_name, events_path, context_path, result_path = sys.argv[1:6]
    # Python put this wrapper's directory first on sys.path. The customer's code takes its place,
    # so that it imports its sibling modules and never the wrapper's files.
    sys.path[0] = code_dir
    try:
        with open(events_path, encoding="utf-8") as events_file:
            events = json.load(events_file)
        with open(context_path, encoding="utf-8") as context_file:
            context = json.load(context_file)
        handler = load_handler(handler_name)
        result = '{"ok":true,"payload":' + to_json(handler(events, context)) + "}"
    except BaseException as error:  # SystemExit and KeyboardInterrupt from the handler fail the step too.
        result = json.dumps({"ok": False, "error": describe(error)})
    with open(result_path, "w", encoding="utf-8") as result_file:
        result_file.write(result)


def load_handler(name):
    module_name, _, function_name = name.rpartition(".")
    module = importlib.import_module(module_name or INLINE_MODULE)
    handler = getattr(module, function_name, None) if function_name else None
    if handler is None:
        raise HandlerProblem(
            "handler {!r}: module {!r} has no function {!r}".format(name, module.__name__, function_name)
        )
    if not callable(handler):
        raise HandlerProblem("handler {!r} is a {}, not a function".format(name, type(handler).__name__))
    return handler


def to_json(payload):
    """Compact JSON of the return value, strict: no NaN or Infinity, valid UTF-8."""
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise HandlerProblem(
            "the handler returned a {}, which is not JSON-serialisable: {}".format(type(payload).__name__, error)
        ) from None
    return text


def describe(error):
    """The traceback as Python prints it, without the wrapper's and importlib's own frames."""
    if isinstance(error, HandlerProblem):
        return str(error)
    report = traceback.TracebackException.from_exception(error)
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack if is_customer_frame(frame)]
    )
    if not report.stack:
        # Python 3.6 and 3.7 print the "Traceback" header whenever there was a traceback object.
        report.exc_traceback = None
    return "".join(report.format())


def is_customer_frame(frame):
    return frame.filename not in MACHINERY_FILES and not frame.filename.startswith("<frozen importlib")


if __name__ == "__main__":
    main()
