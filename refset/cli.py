"""Command line interface: ``refset train`` and ``refset info``.

Examples::

    refset train                                  # built-in synthetic data, sensible defaults
    refset train --dataset COIL20 --data-dir ../shared/data --epochs 50
    refset train --resume refset-runs/COIL20-seed0   # continue an interrupted run
    refset info                                   # backend, versions, threads
"""
import argparse
import json
import os
import sys
import time
import warnings

__all__ = ["main", "build_parser"]

DEFAULT_EPOCHS = 20


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _hidden(text):
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated positive integers, got {text!r}")
    return sizes


def build_parser():
    parser = _Parser(prog="refset", description="Truly sparse MLPs with Erdős–Rényi "
                     "initialisation and Sparse Evolutionary Training (SET).")
    sub = parser.add_subparsers(dest="command", metavar="{train,info}", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a sparse MLP with SET",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Train a SET-MLP and write history.json, history.csv and "
                       "model.npz (checkpointed after every epoch) to the output directory.")
    d = t.add_argument_group("data")
    d.add_argument("--dataset", default="synthetic",
                   help="dataset name (see refset.datasets.list_datasets()); 'synthetic' needs no file")
    d.add_argument("--data-dir", default=None,
                   help="directory with the data files (default: $REFSET_DATA, else ~/.cache/refset)")
    d.add_argument("--download", action="store_true",
                   help="fetch a missing dataset file from its canonical URL (checksum verified)")
    d.add_argument("--test-size", type=float, default=1 / 3, help="test fraction of the split")
    d.add_argument("--n-samples", type=int, default=None,
                   help="synthetic dataset only: number of samples (default 2000)")
    d.add_argument("--n-features", type=int, default=None,
                   help="synthetic dataset only: number of features (default 200)")
    d.add_argument("--n-classes", type=int, default=None,
                   help="synthetic dataset only: number of classes (default 4)")
    m = t.add_argument_group("model")
    m.add_argument("--hidden", type=_hidden, default=(1000, 1000, 1000),
                   help="hidden layer sizes, comma-separated")
    m.add_argument("--epsilon", type=float, default=20.0, help="Erdős–Rényi sparsity ε")
    m.add_argument("--zeta", type=float, default=0.3, help="SET revise fraction ζ in [0, 1]")
    m.add_argument("--prune", choices=("sign", "magnitude"), default="sign", help="SET removal rule")
    m.add_argument("--loss", choices=("cross_entropy", "mse"), default="cross_entropy",
                   help="softmax + cross-entropy, or sigmoid + squared error")
    m.add_argument("--weight-init", choices=("normal", "he_uniform", "xavier_uniform"),
                   default="normal", help="weight initialiser (normal = N(0, 0.1²))")
    m.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {DEFAULT_EPOCHS}; with --resume, the new total)")
    o.add_argument("--batch-size", type=int, default=32)
    o.add_argument("--lr", type=float, default=0.01, help="learning rate")
    o.add_argument("--momentum", type=float, default=0.9)
    o.add_argument("--weight-decay", type=float, default=2e-4)
    o.add_argument("--weight-decay-style", choices=("coupled", "original"), default="coupled")
    o.add_argument("--dropout", type=float, default=0.0, help="inverted dropout rate on hidden layers")
    r = t.add_argument_group("run")
    r.add_argument("--seed", type=int, default=0, help="seed of the split and of all training randomness")
    r.add_argument("--threads", type=int, default=None, help="compute threads of the kernels (default 1)")
    r.add_argument("--out", default=None,
                   help="output directory (default: refset-runs/<dataset>-seed<seed>)")
    r.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    r.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue the run saved in RUN_DIR (up to --epochs if given)")
    r.add_argument("--quiet", action="store_true", help="no per-epoch output")

    sub.add_parser("info", help="show the active backend, versions and threads")
    return parser


def _fail(message):
    sys.stderr.write(f"refset: error: {message}\n")
    return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(f"refset: warning: {message}\n")


def _train(args):
    from . import SparseMLP, load_dataset
    from .history import write_history_csv, write_history_json
    from ._io import atomic_write

    if args.resume:
        run_dir = args.resume
        try:
            with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
                config = json.load(f)
        except FileNotFoundError:
            return _fail(f"--resume: {run_dir} holds no config.json (not a refset run directory)")
        except ValueError as exc:
            return _fail(f"--resume: {run_dir}/config.json is unreadable ({exc})")
        model = SparseMLP.load(os.path.join(run_dir, "model.npz"))
        if args.epochs is not None:
            model.epochs = args.epochs
        if args.threads is not None:
            model.threads = args.threads
        data_args = config["data"]
        if args.data_dir is not None:
            data_args["data_dir"] = args.data_dir
    else:
        synthetic = {k: v for k, v in (("n_samples", args.n_samples), ("n_features", args.n_features),
                                       ("n_classes", args.n_classes)) if v is not None}
        data_args = {"name": args.dataset, "data_dir": args.data_dir, "test_size": args.test_size,
                     "seed": args.seed, "download": args.download, "synthetic": synthetic}
        run_dir = args.out or os.path.join("refset-runs", f"{args.dataset}-seed{args.seed}")
        if os.path.exists(os.path.join(run_dir, "model.npz")) and not args.force:
            return _fail(f"{run_dir} already holds a trained model; use --resume {run_dir} to "
                         "continue it, --out for a new directory, or --force to overwrite")
        model = SparseMLP(args.hidden, epsilon=args.epsilon, zeta=args.zeta, prune=args.prune,
                          epochs=DEFAULT_EPOCHS if args.epochs is None else args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                          momentum=args.momentum, weight_decay=args.weight_decay,
                          weight_decay_style=args.weight_decay_style, loss=args.loss,
                          dropout=args.dropout, weight_init=args.weight_init, dtype=args.dtype,
                          threads=1 if args.threads is None else args.threads, seed=args.seed)
        model._validate_params()
    model.verbose = 0 if args.quiet else (2 if sys.stderr.isatty() else 1)

    t0 = time.perf_counter()
    data = load_dataset(data_args["name"], data_args["data_dir"], test_size=data_args["test_size"],
                        seed=data_args["seed"], download=data_args.get("download", False),
                        synthetic=data_args.get("synthetic"))
    if not args.quiet:
        print(f"{data.summary()}  (loaded in {time.perf_counter() - t0:.1f}s)")
    os.makedirs(run_dir, exist_ok=True)
    config = {"data": data_args, "model": {k: (list(v) if isinstance(v, tuple) else v)
                                           for k, v in model.get_params().items()}}
    with atomic_write(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)

    def save_history(m, record):
        write_history_json(m.history_, os.path.join(run_dir, "history.json"), config=config)
        write_history_csv(m.history_, os.path.join(run_dir, "history.csv"))

    t0 = time.perf_counter()
    model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test),
              resume=bool(args.resume), checkpoint=os.path.join(run_dir, "model.npz"),
              callback=save_history)
    if not args.quiet:
        last = model.history_[-1]
        print(f"done: test accuracy {last['test_accuracy']:.4f} after {model.epoch_} epochs "
              f"({time.perf_counter() - t0:.1f}s); results in {run_dir}/")
    return 0


def main(argv=None):
    """Entry point of the ``refset`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        from . import show_config

        show_config()
        return 0
    warnings.showwarning = _one_line_warning
    try:
        return _train(args)
    except KeyboardInterrupt:
        sys.stderr.write("refset: interrupted; the last completed epoch is saved (use --resume)\n")
        return 130
    except (ValueError, FileNotFoundError, ImportError) as exc:
        return _fail(str(exc).splitlines()[0] if isinstance(exc, ImportError) else " ".join(str(exc).split()))


if __name__ == "__main__":
    sys.exit(main())
