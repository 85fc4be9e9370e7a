#!/usr/bin/env python3
"""Scrapes the prometheus_metrics example over HTTP and checks exact values.

Runs the example host (a pool of 2 real worker processes) with a known
sequence of calls: 1 call whose first attempt aborts its worker (SIGABRT) and
whose retry answers, OK_CALLS that answer, INVALID_CALLS that fail with
INVALID_ARGUMENT. Then fetches /metrics with Python's urllib (an HTTP client
of no one here), parses the text exposition format strictly, and checks the
counters, histograms and gauges; scrapes a second time (nothing counted
twice); closes the host's stdin and checks that the host and its workers are
gone. Every wait has a deadline; the host runs in its own process group,
killed whatever happens.

Usage: prometheus_metrics_test.py HOST_BINARY
"""

import math
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request

OK_CALLS = 5
INVALID_CALLS = 3
ABORT_CALLS = 1  # one: so the per-worker calls_served sum is exact (see below)
SERVICE = "prometheus_metrics.v1.Inventory"
DEADLINE_S = 60

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)
    print("ok:", what)


def parse_value(text):
    # Prometheus parses values with Go's ParseFloat: Inf and NaN in any case
    # (prometheus-cpp writes "Nan" for an empty summary's quantiles).
    if text.lower() in ("+inf", "-inf", "inf", "nan"):
        return float(text.lower())
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise Failure(f"bad sample value {text!r}")
    return float(text)


def parse_labels(text, line):
    """'{a="x",b="y\\"z"}' (without braces) -> dict, strictly."""
    labels = {}
    i = 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            raise Failure(f"bad labels in: {line}")
        name = text[i:eq]
        if not LABEL_NAME_RE.match(name) or name in labels:
            raise Failure(f"bad or repeated label name {name!r} in: {line}")
        if eq + 1 >= len(text) or text[eq + 1] != '"':
            raise Failure(f"unquoted label value in: {line}")
        j = eq + 2
        value = []
        while True:
            if j >= len(text):
                raise Failure(f"unterminated label value in: {line}")
            c = text[j]
            if c == "\\":
                nxt = text[j + 1] if j + 1 < len(text) else ""
                if nxt not in ('\\', '"', "n"):
                    raise Failure(f"bad escape in: {line}")
                value.append("\n" if nxt == "n" else nxt)
                j += 2
            elif c == '"':
                break
            else:
                value.append(c)
                j += 1
        labels[name] = "".join(value)
        j += 1
        if j < len(text):
            if text[j] != ",":
                raise Failure(f"expected ',' in labels of: {line}")
            j += 1
        i = j
    return labels


def parse_exposition(text):
    """Text format 0.0.4 -> {family: {"type", "help", "samples": [(name, labels, value)]}}.

    Strict: each family's TYPE once and before its samples, sample names that
    belong to the family, no repeated series, a final newline.
    """
    check(text.endswith("\n"), "the exposition ends with a newline")
    families = {}
    series = set()
    current = None
    for line in text.split("\n")[:-1]:
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME_RE.match(name):
                    raise Failure(f"bad metric name in: {line}")
                family = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if parts[1] == "TYPE":
                    kind = parts[3] if len(parts) > 3 else ""
                    if kind not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        raise Failure(f"bad type in: {line}")
                    if family["type"] is not None or family["samples"]:
                        raise Failure(f"TYPE repeated or after samples: {line}")
                    family["type"] = kind
                else:
                    if family["help"] is not None:
                        raise Failure(f"HELP repeated: {line}")
                    family["help"] = parts[3] if len(parts) > 3 else ""
                current = name
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not m:
            raise Failure(f"bad sample line: {line}")
        name, label_text, value_text = m.group(1), m.group(2) or "", m.group(3)
        labels = parse_labels(label_text, line)
        value = parse_value(value_text)
        family_name = current
        if family_name is None:
            raise Failure(f"sample outside a family: {line}")
        kind = families[family_name]["type"]
        allowed = {family_name}
        if kind == "histogram":
            allowed = {family_name + s for s in ("_bucket", "_sum", "_count")}
        elif kind == "summary":  # the Exposer's own exposer_request_latencies
            allowed = {family_name, family_name + "_sum", family_name + "_count"}
        if name not in allowed:
            raise Failure(f"sample {name} in family {family_name} ({kind}): {line}")
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise Failure(f"repeated series: {line}")
        series.add(key)
        families[family_name]["samples"].append((name, labels, value))
    return families


def samples(families, family, name=None, **want):
    """Samples of `family` (sample name `name`, default the family's) whose labels include `want`."""
    name = name or family
    if family not in families:
        raise Failure(f"no family {family}")
    return [(labels, value) for n, labels, value in families[family]["samples"]
            if n == name and all(labels.get(k) == v for k, v in want.items())]


def value(families, family, name=None, **want):
    found = samples(families, family, name, **want)
    if len(found) != 1:
        raise Failure(f"{len(found)} samples of {name or family}{want}, expected 1: {found}")
    return found[0][1]


def check_histograms(families):
    """Every iw_*_seconds histogram: cumulative buckets, monotonic in le, +Inf == _count."""
    checked = 0
    for family, data in families.items():
        if data["type"] != "histogram":
            continue
        groups = {}
        for name, labels, v in data["samples"]:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                groups[rest]["buckets"].append((parse_value(labels["le"]), v))
            elif name.endswith("_sum"):
                groups[rest]["sum"] = v
            else:
                groups[rest]["count"] = v
        for rest, g in groups.items():
            bounds = [b for b, _ in g["buckets"]]
            counts = [c for _, c in g["buckets"]]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                raise Failure(f"{family}{rest}: le not increasing: {bounds}")
            if not bounds or bounds[-1] != math.inf:
                raise Failure(f"{family}{rest}: no le=\"+Inf\" bucket")
            if counts != sorted(counts):
                raise Failure(f"{family}{rest}: bucket counts not monotonic: {counts}")
            if counts[-1] != g["count"]:
                raise Failure(f"{family}{rest}: +Inf bucket {counts[-1]} != _count {g['count']}")
            if g["sum"] is None or g["sum"] < 0 or (g["count"] == 0 and g["sum"] != 0):
                raise Failure(f"{family}{rest}: bad _sum {g['sum']}")
            checked += 1
    check(checked >= 4, f"{checked} histograms: cumulative, monotonic, +Inf == _count")


def read_line_until(proc, pattern, deadline, log):
    """Lines of the host's stdout until one matches `pattern` (a regex); its match."""
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failure(f"no line matching {pattern!r} within the deadline")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise Failure(f"the host ended before printing {pattern!r}")
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode(errors="replace")
            log.append(text)
            print("host:", text)
            m = re.search(pattern, text)
            if m:
                return m


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        check(response.status == 200, "GET /metrics answers 200")
        content_type = response.headers.get("Content-Type", "")
        # prometheus-cpp 1.0.1 sends "text/plain; charset=utf-8" (no version=0.0.4).
        check(content_type.startswith("text/plain"),
              f"Content-Type is the text format ({content_type})")
        return response.read().decode("utf-8")


def process_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")  # a zombie is gone enough
    except FileNotFoundError:
        return True


def run(host_binary):
    env = dict(os.environ)
    env["TMPDIR"] = os.environ.get("TEST_TMPDIR", "/tmp")
    proc = subprocess.Popen(
        [host_binary, f"--ok_calls={OK_CALLS}", f"--invalid_calls={INVALID_CALLS}",
         f"--abort_calls={ABORT_CALLS}", "--serve_seconds=120"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        start_new_session=True)
    log = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        url = read_line_until(proc, r"^ready to scrape: (http://127\.0\.0\.1:\d+/metrics) ",
                              deadline, log).group(1)
        text = scrape(url)
        families = parse_exposition(text)
        check(True, f"the exposition parses: {len(families)} families")

        calls = OK_CALLS + INVALID_CALLS + ABORT_CALLS
        m = {"service": SERVICE, "host": "inventory-1", "method": "Check"}
        check(value(families, "iw_calls_started_total", **m) == calls,
              f"iw_calls_started_total == {calls}")
        codes = {labels["code"]: v for labels, v in samples(families, "iw_calls_total", **m)}
        check(codes == {"OK": OK_CALLS + ABORT_CALLS, "INVALID_ARGUMENT": INVALID_CALLS},
              f"iw_calls_total by code: {codes}")
        check(value(families, "iw_call_retries_total", **m) == ABORT_CALLS,
              f"iw_call_retries_total == {ABORT_CALLS}")
        check(value(families, "iw_calls_in_flight", **m) == 0, "iw_calls_in_flight == 0")
        check(value(families, "iw_request_bytes_total", **m) > 0, "iw_request_bytes_total > 0")
        check(value(families, "iw_response_bytes_total", **m) > 0,
              "iw_response_bytes_total > 0")
        # Per call; per attempt (the aborted ones included); per answered attempt.
        attempts = calls + ABORT_CALLS
        for family, expected in (("iw_call_seconds", calls),
                                 ("iw_queue_wait_seconds", attempts),
                                 ("iw_attempt_seconds", attempts),
                                 ("iw_handler_seconds", calls)):
            check(value(families, family, family + "_count", **m) == expected,
                  f"{family}_count == {expected}")
            check(value(families, family, family + "_bucket", le="+Inf", **m) == expected,
                  f"{family}_bucket{{le=\"+Inf\"}} == {expected}")
        check_histograms(families)

        p = {"service": SERVICE, "host": "inventory-1"}
        crashes = {labels["cause"]: v for labels, v in samples(families, "iw_worker_crashes_total", **p)}
        check(crashes == {"exited": 0, "killed_by_signal": ABORT_CALLS, "deadline_replacement": 0,
                          "protocol_error": 0, "connection_lost": 0, "unknown": 0},
              f"iw_worker_crashes_total by cause: {crashes}")
        check(value(families, "iw_worker_crash_signals_total", signal="SIGABRT", **p) == ABORT_CALLS,
              f"iw_worker_crash_signals_total{{signal=\"SIGABRT\"}} == {ABORT_CALLS}")
        # 2 workers at the start, one replacement per abort (the host waited for it).
        check(value(families, "iw_workers_spawned_total", **p) == 2 + ABORT_CALLS,
              f"iw_workers_spawned_total == {2 + ABORT_CALLS}")
        check(value(families, "iw_spawn_failures_total", **p) == 0, "iw_spawn_failures_total == 0")
        states = {labels["state"]: v for labels, v in samples(families, "iw_workers", **p)}
        check(sum(states.values()) == 2 and states["busy"] == 0 and states["idle"] == 2,
              f"iw_workers by state: {states}")
        check(value(families, "iw_calls_queued", **p) == 0, "iw_calls_queued == 0")

        served = samples(families, "iw_worker_calls_served_total", **p)
        pids = [int(labels["pid"]) for labels, _ in served]
        check(len(served) == 2 and all(pid > 0 for pid in pids), f"2 live workers, pids {pids}")
        # The aborting call came first, so the worker it killed had served
        # nothing: the live workers served every call.
        check(sum(v for _, v in served) == calls, f"iw_worker_calls_served_total sums to {calls}")
        for pid in pids:
            w = {"pid": str(pid), **p}
            check(value(families, "iw_worker_resident_memory_bytes", **w) > 0,
                  f"worker {pid}: iw_worker_resident_memory_bytes > 0")
            cpu = {labels["mode"]: v for labels, v in
                   samples(families, "iw_worker_cpu_seconds_total", **w)}
            check(set(cpu) == {"user", "system"} and all(v >= 0 for v in cpu.values()),
                  f"worker {pid}: iw_worker_cpu_seconds_total by mode {cpu}")

        # The program's own Registry, on the same endpoint.
        check(value(families, "inventory_example_calls_made_total") == calls,
              f"inventory_example_calls_made_total == {calls} (the program's own registry)")

        # A second scrape reads the same counters: nothing recorded twice.
        again = parse_exposition(scrape(url))
        for family in ("iw_calls_started_total", "iw_calls_total", "iw_call_retries_total",
                       "iw_worker_crashes_total", "iw_workers_spawned_total"):
            check(again[family]["samples"] == families[family]["samples"],
                  f"a second scrape: {family} unchanged")
        check(value(again, "iw_call_seconds", "iw_call_seconds_count", **m) == calls,
              "a second scrape: iw_call_seconds_count unchanged")

        # End the host: it closes its pool; nothing stays behind.
        proc.stdin.close()
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("the host did not end within 30 s of its stdin closing")
        rest = proc.stdout.read().decode(errors="replace")
        for line in rest.splitlines():
            print("host:", line)
        check(rc == 0 and "\ndone" in "\n" + rest, f"the host ended with 0 and 'done' (rc {rc})")
        check(all(process_gone(pid) for pid in pids), "the workers are gone")
    finally:
        # On failure: let the host close its pool (its workers with it), then
        # kill it if it has not ended in time.
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    try:
        run(sys.argv[1])
    except Failure as failure:
        print("FAILED:", failure)
        return 1
    print("prometheus_metrics: the scraped metrics are exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
