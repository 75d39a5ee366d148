"""Reads the report of one `wrk --latency` run (bench/http_vs_peers)."""
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
