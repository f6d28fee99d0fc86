"""Mode coverage of a run on a 2-D mixture (ring8, grid25), with ganforge.metrics.mixture_quality.

    python benchmarks/ring8_modes.py RUN_DIR|CHECKPOINT [--num 2500] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.data import mixture_centers, mixture_std
from ganforge.metrics import mixture_quality
from ganforge.io import to_json
from ganforge.sampler import load_generator
from ganforge.rundir import latest_checkpoint, load_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--num", type=int, default=2500)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    path = Path(args.run_dir)
    name = (load_checkpoint(path) if path.is_file() else latest_checkpoint(path))["data"]["name"]
    x = load_generator(args.run_dir).sample(args.num, seed=args.seed)
    q = mixture_quality(x, mixture_centers(name), mixture_std(name))
    print(to_json({"data": name, "samples": args.num, **q}))


if __name__ == "__main__":
    main()
