"""Reads the reports of `wrk --latency` runs and prints tables (bench/http_vs_peers, bench/security_cost)."""
import re

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse(path):
    """requests/s, requests, p50 and p99 in ms, non-2xx answers and socket errors of one run."""
    with open(path) as f:
        text = f.read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    requests = re.search(r"^\s*([0-9]+) requests in", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and requests and p50 and p99):
        raise ValueError(f"{path}: not the report of wrk --latency:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", text)
    errors = re.search(r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", text)
    return {
        "rps": float(rps.group(1)),
        "requests": int(requests.group(1)),
        "p50": _ms(p50.group(1)),
        "p99": _ms(p99.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def read_runs(results):
    """The runs of results/runs.tsv (written by bench/http_common.sh's measure).

    Returns (runs, answered): runs maps (row, server) to the parsed measured
    rounds in order, each with "round" and "cpu_us" (the server's CPU time per
    request, in µs) added; answered maps (row, server) to the requests
    answered with 2xx, the warm-up included.
    """
    runs, answered = {}, {}
    with open(f"{results}/runs.tsv") as f:
        for line in f:
            row, server, rnd, ticks, path = line.rstrip("\n").split("\t")
            run = parse(path)
            answered[(row, server)] = answered.get((row, server), 0) + run["requests"] - run["non2xx"]
            if int(rnd) == 0:
                continue
            run["round"] = int(rnd)
            run["cpu_us"] = int(ticks) * 10000 / max(1, run["requests"])  # 100 ticks per second
            runs.setdefault((row, server), []).append(run)
    return runs, answered


def read_peaks(results):
    """Peak memory (VmHWM) in MB of each (row, server), from results/peaks.tsv."""
    with open(f"{results}/peaks.tsv") as f:
        return {(row, server): int(kb) / 1024
                for row, server, kb in (line.rstrip("\n").split("\t") for line in f)}


def read_fsync(results):
    """The disk probes of each row in ms, from results/fsync.tsv, rows in order."""
    fsync = {}
    with open(f"{results}/fsync.tsv") as f:
        for line in f:
            row, _, ms = line.rstrip("\n").split("\t")
            fsync.setdefault(row, []).append(float(ms))
    return fsync


def print_table(table, right):
    """Prints rows of strings as aligned columns under a ruled header row.

    right: the indexes of the columns aligned to the right.
    """
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]

    def line(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    print(line(table[0]))
    print("  ".join("-" * w for w in widths))
    for r in table[1:]:
        print(line(r))
