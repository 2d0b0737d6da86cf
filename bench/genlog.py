"""Deterministic generator of realistic nginx access logs in the lab's ``upstreamlog`` format.

Lines are built from a pool of pre-rendered request templates (client, request, status,
referrer, user agent, upstream lists) and a clock that only moves forward, so streaming tens
of millions of lines costs little more than the string joins. The same seed always gives the
same bytes, which lets a generated file be cached and compared between runs.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from state.logformat import BUILTIN_FORMATS

FORMAT = next(f for n, f, _ in BUILTIN_FORMATS if n == "upstreamlog")
BACKENDS = ("198.18.0.21:8001", "198.18.0.22:8001", "198.18.0.23:8001", "198.18.0.24:8001")
WEIGHTS = (2, 1, 1, 1)
START = 1_795_575_600.0  # 2026-11-25 03:00:00 UTC
POOL = 65_536  # distinct templates; enough that URLs, agents and latencies keep varying

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "Prometheus/2.53.0",
    "kube-probe/1.30",
    "-",
)
REFERRERS = ("-", "-", "-", "https://www.example.com/", "https://www.example.com/shop/",
             "https://www.google.com/", "https://duckduckgo.com/")
PAGES = ("/", "/index.php", "/index.html", "/shop/", "/shop/cart", "/api/v1/items",
         "/api/v1/cart", "/api/v1/search", "/report.php", "/login", "/logout", "/healthz",
         "/product.php", "/blog/", "/blog/2026/11/release-notes", "/account/orders")
STATIC = ("/static/app.js", "/static/app.css", "/favicon.ico", "/img/logo.png",
          "/robots.txt", "/static/fonts/inter.woff2")


def _template(rng: random.Random) -> tuple[str, str]:
    """One request as (text before ``$time_local``, text between it and ``$msec``)."""
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    user = "-" if rng.random() < 0.97 else rng.choice(("alice", "bob", "deploy"))
    roll = rng.random()
    method = "GET" if roll < 0.86 else "POST" if roll < 0.97 else "HEAD"
    agent = rng.choice(AGENTS)
    referrer = rng.choice(REFERRERS)
    if rng.random() < 0.04:
        # Answered by the proxy itself (static file, redirect): no upstream at all.
        uri = rng.choice(STATIC)
        status = rng.choice((200, 200, 304, 404, 301))
        size = 0 if status == 304 else rng.randrange(200, 90_000)
        rt = f"{rng.randrange(0, 3) / 1000:.3f}"
        return (f"{ip} - {user} [",
                f'] "{method} {uri} HTTP/1.1" {status} {size} "{referrer}" "{agent}" '
                f'rt={rt} ua="-" us="-" urt="-" msec=')
    page = rng.choice(PAGES)
    if rng.random() < 0.02 and page.endswith("/"):
        page += "%E2%9C%93"  # percent-encoded UTF-8, as clients send it
    if page.startswith("/api/") or page.endswith(".php"):
        page += f"?id={rng.randrange(100_000)}&page={rng.randrange(1, 40)}"
    tries: list[tuple[str, str, str]] = []
    first = rng.choices(BACKENDS, WEIGHTS)[0]
    latency = rng.lognormvariate(-4.6, 0.9)  # median ~10 ms, long tail
    retry = rng.random() < 0.015
    if retry:
        # The first server failed (refused, reset or timed out); nginx moved to the next.
        fail = rng.choice(("502", "504", "-"))
        ftime = "-" if fail == "-" else f"{rng.choice((0.001, 0.0, 1.001)):.3f}"
        tries.append((first, fail, ftime))
        second = rng.choice([b for b in BACKENDS if b != first])
        tries.append((second, "200", f"{latency:.3f}"))
        status = 200
    else:
        roll = rng.random()
        status = 200 if roll < 0.93 else 404 if roll < 0.96 else 302 if roll < 0.975 else \
            rng.choice((500, 502, 503, 504))
        tries.append((first, str(status), f"{latency:.3f}"))
    size = 0 if status >= 300 and status != 404 else rng.randrange(150, 250_000)
    rt = f"{sum(float(t) for _, _, t in tries if t != '-') + rng.randrange(0, 2) / 1000:.3f}"
    ua = ", ".join(a for a, _, _ in tries)
    us = ", ".join(s for _, s, _ in tries)
    urt = ", ".join(t for _, _, t in tries)
    return (f"{ip} - {user} [",
            f'] "{method} {page} HTTP/1.1" {status} {size} "{referrer}" "{agent}" '
            f'rt={rt} ua="{ua}" us="{us}" urt="{urt}" msec=')


def templates(seed: int, count: int = POOL) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [_template(rng) for _ in range(count)]


def time_local(second: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


def chunks(count: int, *, seed: int = 1, rate: float = 2000.0, start: float = START,
           chunk_lines: int = 10_000) -> Iterator[bytes]:
    """``count`` lines as newline-terminated byte blocks of ``chunk_lines`` lines each.

    Timestamps start at ``start`` and advance by ``1/rate`` on average, with jitter, and
    never go backwards, as one busy proxy's log would.
    """
    pool = templates(seed)
    rng = random.Random(seed + 1)
    steps = [rng.expovariate(rate) for _ in range(4096)]
    n_pool, n_steps = len(pool), len(steps)
    clock = start
    local_second, local_text = -1, ""
    done = 0
    i = 0
    while done < count:
        part: list[str] = []
        add = part.append
        for _ in range(min(chunk_lines, count - done)):
            clock += steps[i % n_steps]
            second = int(clock)
            if second != local_second:
                local_second, local_text = second, time_local(second)
            head, mid = pool[(i * 7919) % n_pool]
            add(f"{head}{local_text}{mid}{clock:.3f}\n")
            i += 1
        done += len(part)
        yield "".join(part).encode()


def lines_now(count: int, *, seed: int = 1, pool: list[tuple[str, str]] | None = None,
              offset: int = 0) -> bytes:
    """``count`` lines stamped with the current wall clock (for freshness measurements)."""
    pool = pool or templates(seed)
    now = time.time()
    local = time_local(int(now))
    n = len(pool)
    return "".join(f"{pool[(offset + k) % n][0]}{local}{pool[(offset + k) % n][1]}{now:.3f}\n"
                   for k in range(count)).encode()


def cache_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_BENCH_CACHE")
                or Path(tempfile.gettempdir()) / "switchboard-bench")


def cached_file(count: int, seed: int = 1) -> Path:
    """A generated log of ``count`` lines, written once per (count, seed, generator code)."""
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    path = cache_dir() / f"access-{count}-s{seed}-{code}.log"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as f:
            for block in chunks(count, seed=seed):
                f.write(block)
        tmp.replace(path)
    return path


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for block in chunks(n):
        sys.stdout.buffer.write(block)
