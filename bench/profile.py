"""Sample running workers with py-spy and summarise where their time goes."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Where a frame's file lives, by its first path component as py-spy prints it
# ("agents/enrich.py", "faust/streams.py", "asyncio/events.py", "selectors.py").
AREAS = {
    "agents": "rendezvous:agents", "learning": "rendezvous:learning",
    "schemas": "rendezvous:schemas", "tables": "rendezvous:tables", "app": "rendezvous:app",
    "river": "river", "faust": "faust", "mode": "mode", "aiokafka": "aiokafka", "kafka": "aiokafka",
    "orjson": "orjson", "prometheus_client": "prometheus", "numpy": "numpy", "aiohttp": "aiohttp",
    "asyncio": "asyncio", "selectors.py": "asyncio", "croniter": "faust", "venusian": "faust",
    "concurrent": "executor threads", "threading.py": "executor threads", "pickle.py": "pickle",
}

def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Recorder:
    """``py-spy record`` of one pid to a collapsed-stack (raw) file, until stopped."""

    def __init__(self, pid: int, out: Path, rate: int = 67, duration: int = 600) -> None:
        self.out = Path(out)
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--output", str(self.out), "--format", "raw",
             "--rate", str(rate), "--duration", str(duration), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=open(self.out.with_suffix(".log"), "wb"),
            stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_frame(frame: str) -> tuple[str, str]:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m.group("func"), m.group("file")


def area(file: str) -> str:
    file = _short(file)
    head = file.split("/", 1)[0]
    if head in AREAS:
        return AREAS[head]
    if file.startswith("<frozen") or "/" not in file:
        return "python stdlib"
    return "other: " + head


def summarise(raw: Path, top: int = 25) -> tuple[str, dict]:
    """Self and inclusive time by function, and self time by area, of one raw profile."""
    self_t: Counter = Counter()
    incl: Counter = Counter()
    areas: Counter = Counter()
    project_incl: Counter = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f]
        # The first frame may be the thread name ("process 12:\"python\"" / thread id).
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        func, file = parse_frame(frames[-1])
        short = _short(file)
        self_t[f"{func} ({short})"] += n
        areas[area(file)] += n
        seen = set()
        for f in frames:
            fn, fl = parse_frame(f)
            key = f"{fn} ({_short(fl)})"
            if key not in seen:
                seen.add(key)
                incl[key] += n
                if area(fl).startswith("rendezvous:"):
                    project_incl[key] += n
    lines = [f"samples: {total}"]
    if total:
        lines.append("self time by area:")
        lines += [f"  {100 * n / total:5.1f}%  {a}" for a, n in areas.most_common()]
        lines.append(f"top {top} functions by self time:")
        lines += [f"  {100 * n / total:5.1f}%  {k}" for k, n in self_t.most_common(top)]
        lines.append(f"top {top} Rendezvous functions by inclusive time:")
        lines += [f"  {100 * n / total:5.1f}%  {k}" for k, n in project_incl.most_common(top)]
    summary = {"samples": total,
               "areas": {a: round(n / total, 4) for a, n in areas.most_common()} if total else {},
               "top_self": [[k, round(n / total, 4)] for k, n in self_t.most_common(10)] if total else [],
               "top_project_inclusive": [[k, round(n / total, 4)] for k, n in
                                         project_incl.most_common(10)] if total else []}
    return "\n".join(lines), summary


def _short(file: str) -> str:
    for marker in ("site-packages/", f"{REPO}/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
