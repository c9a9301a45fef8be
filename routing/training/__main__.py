"""``python -m routing.training`` (``make models``): train the sentiment model and the crisis detector on
``../shared/data`` and write them to ``routing/data/``.

``--out DIR`` writes elsewhere (the benchmark rebuilds them in a temporary folder and checks they are the
committed ones, byte for byte); ``--fit-crisis-weight`` prints the fit of the classifier's CRISIS_WEIGHT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from routing import crisis, sentiment, textfeatures
from routing.training.crisis import fit_crisis_weight, train_crisis
from routing.training.data import SEMEVAL, SHARED
from routing.training.sentiment import train_sentiment


def build(shared: Path, out: Path) -> dict[str, float]:
    """Train both models from ``shared`` into ``out``; seconds each took. One BLAS thread: with several, the
    order of floating-point sums follows the machine's threads and the files differ in the last bits."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _build(shared, out)


def _build(shared: Path, out: Path) -> dict[str, float]:
    seconds = {}
    started = time.perf_counter()
    model, _ = train_sentiment(shared / SEMEVAL)
    model.save(out / sentiment.MODEL_NPZ.name, out / sentiment.MODEL_JSON.name)
    seconds["sentiment"] = time.perf_counter() - started
    started = time.perf_counter()
    model, _ = train_crisis(shared)
    model.save(out / crisis.MODEL_NPZ.name, out / crisis.MODEL_JSON.name)
    seconds["crisis"] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.training", description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder of the development data")
    parser.add_argument("--out", type=Path, default=textfeatures.DATA, help="where to write the models")
    parser.add_argument("--fit-crisis-weight", action="store_true", help="print the blend weight's fit")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"{args.shared} not found: pass --shared DIR", file=sys.stderr)
        return 2
    if args.fit_crisis_weight:
        spec = json.loads(crisis.MODEL_JSON.read_text(encoding="utf-8"))
        c = float(spec["learner"].split("C=")[1].split(",")[0])
        print(json.dumps(fit_crisis_weight(args.shared, c), indent=2))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = build(args.shared, args.out)
    for name in ("sentiment_model", "crisis_model"):
        spec = json.loads((args.out / f"{name}.json").read_text(encoding="utf-8"))
        size = (args.out / f"{name}.npz").stat().st_size
        summary = {key: value for key, value in spec.items() if "by_event" not in str(value)}
        print(f"{name}: {size / 1e6:.2f} MB; {json.dumps(summary)}")
    each = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    print(f"trained in {sum(seconds.values()):.1f} s ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
