"""The envelope codec: Envelope.decode/encode vs the standard library's json on the same data,
the codec before this one (read from git) and the two compiled libraries it could be built on.

Two data sets: a ~1.4 KB envelope (an order with a customer, eight items and an address:
strings, ints, booleans, a null) and every golden vector of tests/data/nexus (127 records
written by Nexus Go: floats, big integers, escapes, error replies). Per data set and side: µs of
CPU per record (this process, one thread), the median of `--runs` repeats, sides interleaved
so that the machine's load falls on all of them alike. Ratios are of medians.

- decode: `Envelope.decode(value)` vs `json.loads(value)` (target <= 1.0x);
- encode: `Envelope.encode()` vs `json.dumps(d)`, d = `json.loads(value)` (target <= 0.5x);
  the envelope either decoded from the wire (payload written in wire order) or built with
  `Envelope.new_root` (payload keys sorted, as Go sorts a map);
- before: the same calls on the codec at each `--before` revision (default: the last commit with the
  standard-library codec), imported from `git show REV:core/wire/envelope.py`;
- libraries: msgspec (generic and into the typed Struct) and orjson (if installed), bare.

    .venv/bin/python bench/codec.py [--runs 9] [--min-cpu-s 0.3] [--before REV[,REV...]] [--quick]
        [--json FILE]
"""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
from common import Result, entry, log, parser, print_machine, print_table, write_json

from core.wire import envelope as new_codec
from core.wire.envelope import Envelope

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "data" / "nexus"
BEFORE = "7af6db7"  # core: sub-packages by job — the standard-library codec, last seen


def order_envelope(cls: Any = Envelope) -> Any:
    """The ~1.4 KB envelope: what an order service might send to fulfilment."""
    payload = {
        "order_id": "ord-000123456",
        "customer": {"id": "cust-98765", "name": "Ada Lovelace", "email": "ada@example.com",
                     "tier": "gold", "since": 1577836800},
        "items": [{"sku": f"SKU-{i:05d}", "qty": i + 1, "price_cents": 1999 + i,
                   "title": "A thing with a descriptive title"} for i in range(8)],
        "shipping": {"street": "12 Analytical Engine Road", "city": "London", "zip": "N1 9GU",
                     "country": "GB"},
        "notes": "leave at the door please",
        "flags": [True, False, None],
    }
    return cls.new_root("shop.orders.v1", "shop.fulfilment.cmd.v1", payload,
                             reply_to="shop.orders.replies.v1", now_ns=1_796_000_000_000_000_000)


def vectors() -> list[bytes]:
    out = []
    for name in ("wire_examples.json", "wire_examples_extended.json"):
        records = json.loads((VECTORS / name).read_text())["records"]
        out += [r["value_raw"].encode() for r in records]
    return out


def _git_module(rev: str, path: str, name: str, replace: dict[str, str]) -> ModuleType | None:
    """`path` as it was at `rev`, imported as module `name` (None if it did not exist)."""
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True,
                           text=True)
    if shown.returncode != 0:
        return None
    source = shown.stdout
    for old, new in replace.items():
        source = source.replace(old, new)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def old_codec(rev: str) -> ModuleType:
    """core/wire/envelope.py as it was at `rev`, imported as a module of its own, with the
    core/wire/gojson.py of that revision too (when it had one), so that the whole codec is
    the old one."""
    gojson = _git_module(rev, "core/wire/gojson.py", f"gojson_{rev}", {})
    replace = {"from core.wire.gojson import": f"from gojson_{rev} import"} if gojson else {}
    module = _git_module(rev, "core/wire/envelope.py", f"envelope_{rev}", replace)
    assert module is not None, f"no core/wire/envelope.py at {rev}"
    return module


def _encode(envelope: Any) -> bytes:
    return envelope.encode()


def per_record_us(call: Callable[[Any], object], items: Sequence[Any], min_s: float) -> float:
    """CPU µs per call of `call` over `items`, repeated for at least `min_s` of CPU."""
    rounds, spent = 0, 0.0
    gc.disable()
    try:
        started = time.process_time()
        while spent < min_s:
            for item in items:
                call(item)
            rounds += 1
            spent = time.process_time() - started
    finally:
        gc.enable()
    return spent / (rounds * len(items)) * 1e6


def measure(sides: dict[str, tuple[Callable[[Any], object], Sequence[Any]]], runs: int,
            min_s: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in sides}
    for run in range(runs):
        for name, (call, items) in sides.items():
            times[name].append(per_record_us(call, items, min_s))
        log(f"run {run + 1}/{runs} done")
    return times


def _fits(library: Any, value: object) -> bool:
    try:
        library.dumps(value)
    except TypeError:
        return False
    return True


def data_sets(befores: dict[str, ModuleType]) -> dict[str, dict[str, Any]]:
    order = order_envelope()
    order_bytes = order.encode()
    all_vectors = vectors()
    sets = {}
    for label, values in ((f"{len(order_bytes):,} B envelope", [order_bytes]),
                          (f"{len(all_vectors)} golden vectors", all_vectors)):
        sets[label] = {
            "bytes": values,
            "dicts": [json.loads(v) for v in values],
            "decoded": [Envelope.decode(v) for v in values],
        }
        for rev, before in befores.items():
            sets[label][f"decoded {rev}"] = [before.Envelope.decode(v) for v in values]
    sets[f"{len(order_bytes):,} B envelope"].update(built=[order], **{
        f"built {rev}": [order_envelope(before.Envelope)] for rev, before in befores.items()})
    return sets


def run(runs: int, min_s: float, revs: list[str]) -> list[Result]:
    befores = {rev: old_codec(rev) for rev in revs}
    for value in vectors():  # the codecs are exact: the comparison is of like with like
        for before in befores.values():
            assert Envelope.decode(value) == Envelope.decode(before.Envelope.decode(value).encode())
    results: list[Result] = []
    wire_decoder = msgspec.json.Decoder(new_codec._WireIn)
    generic_decoder = msgspec.json.Decoder()
    generic_encoder = msgspec.json.Encoder()
    try:
        import orjson
    except ImportError:
        orjson = None
        log("orjson is not installed: its lines are left out")
    for label, data in data_sets(befores).items():
        sides: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
            "json.loads": (json.loads, data["bytes"]),
            "decode": (Envelope.decode, data["bytes"]),
            **{f"decode {rev}": (before.Envelope.decode, data["bytes"])
               for rev, before in befores.items()},
            "msgspec.json decode (generic)": (generic_decoder.decode, data["bytes"]),
            "msgspec.json decode (typed Struct)": (wire_decoder.decode, data["bytes"]),
            "json.dumps": (json.dumps, data["dicts"]),
            "encode": (Envelope.encode, data["decoded"]),
            **{f"encode {rev}": (_encode, data[f"decoded {rev}"]) for rev in befores},
            "msgspec.json encode (generic)": (generic_encoder.encode, data["dicts"]),
        }
        if "built" in data:
            sides["encode, built"] = (Envelope.encode, data["built"])
            for rev in befores:
                sides[f"encode {rev}, built"] = (_encode, data[f"built {rev}"])
        if orjson is not None:
            sides["orjson.loads"] = (orjson.loads, data["bytes"])
            sides["orjson.dumps"] = (orjson.dumps, [d for d in data["dicts"] if _fits(orjson, d)])
        times = measure(sides, runs, min_s)
        loads, dumps = times["json.loads"], times["json.dumps"]
        results += [
            Result(f"[{label}] Envelope.decode / json.loads", "us/rec", times["decode"], loads,
                   "<= 1.0x", "ratio<=1.0"),
            *(Result(f"  before ({rev}) / json.loads", "us/rec", times[f"decode {rev}"],
                     loads) for rev in befores),
            Result("  msgspec.json decode, generic / json.loads", "us/rec",
                   times["msgspec.json decode (generic)"], loads, note="the library, bare"),
            Result("  msgspec.json decode, typed Struct / json.loads", "us/rec",
                   times["msgspec.json decode (typed Struct)"], loads,
                   note="the library, bare: the fast path's one C call"),
        ]
        if orjson is not None:
            results.append(Result("  orjson.loads / json.loads", "us/rec", times["orjson.loads"],
                                  loads, note="the library, bare (big integers become floats)"))
        results += [
            Result(f"[{label}] Envelope.encode (decoded) / json.dumps", "us/rec",
                   times["encode"], dumps, "<= 0.5x", "ratio<=0.5",
                   note="payload in wire order"),
            *(Result(f"  before ({rev}) / json.dumps", "us/rec", times[f"encode {rev}"],
                     dumps) for rev in befores),
        ]
        if "built" in data:
            results += [
                Result(f"[{label}] Envelope.encode (new_root) / json.dumps", "us/rec",
                       times["encode, built"], dumps, "<= 0.5x", "ratio<=0.5",
                       note="payload keys sorted"),
                *(Result(f"  before ({rev}) / json.dumps", "us/rec",
                         times[f"encode {rev}, built"], dumps) for rev in befores),
            ]
        results.append(Result("  msgspec.json encode, generic / json.dumps", "us/rec",
                              times["msgspec.json encode (generic)"], dumps,
                              note="the library, bare (no Go fix-ups)"))
        if orjson is not None:
            left_out = len(data["dicts"]) - len(sides["orjson.dumps"][1])
            results.append(Result("  orjson.dumps / json.dumps", "us/rec", times["orjson.dumps"],
                                  dumps, note="the library, bare (no Go fix-ups)" + (
                                      f"; {left_out} records left out: integers beyond 64 bits"
                                      if left_out else "")))
    return results


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--before", default=BEFORE,
                   help=f"git revisions of old codecs, comma-separated ({BEFORE})")
    p.add_argument("--min-cpu-s", type=float, default=None,
                   help="CPU seconds per side and repeat (0.3; --quick 0.05)")
    args = p.parse_args(argv)
    runs = args.runs or (3 if args.quick else 9)
    min_s = args.min_cpu_s or (0.05 if args.quick else 0.3)
    print_machine()
    results = run(runs, min_s, args.before.split(","))
    print_table("envelope codec (CPU µs per record; ratios of medians)", results,
                f"{runs} interleaved repeats per side, >= {min_s} s of CPU each; before = "
                f"{args.before}; msgspec {msgspec.__version__}")
    write_json(args.json_out, "codec", results, {"runs": runs, "before": args.before})
    return 0 if all(r.verdict != "MISS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(entry(main))
