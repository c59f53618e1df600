"""Command line interface: ``refset train``, ``sweep``, ``plot``, ``oracle`` and ``info``.

Examples::

    refset train                                  # built-in synthetic data, sensible defaults
    refset train --dataset COIL20 --data-dir ../shared/data --epochs 50
    refset train --resume refset-runs/COIL20-seed0   # continue an interrupted run
    refset sweep experiments/zeta_quick.toml --jobs 2   # a grid of runs (see refset.sweep)
    refset plot refset-runs/zeta_quick            # figures of a sweep or of one run
    refset oracle check --adapter my_port         # check an implementation (docs/oracle.md)
    refset info                                   # backend, versions, threads
"""
import argparse
import contextlib
import json
import os
import sys
import time
import warnings

from .estimator import SparseMLP

__all__ = ["main", "build_parser"]

METHODS = ("set", "path-weight", "sensitivity", "cht")


# One default per setting, SparseMLP's: the CLI shows and uses the same values.
_DEFAULTS = SparseMLP().get_params()

# train options that set a SparseMLP parameter: argparse dest -> parameter
_PARAMS = {"hidden": "hidden_layer_sizes", "epsilon": "epsilon", "zeta": "zeta", "prune": "prune",
           "loss": "loss", "weight_init": "weight_init", "dense_output": "dense_output",
           "dtype": "dtype", "epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate",
           "momentum": "momentum", "weight_decay": "weight_decay",
           "weight_decay_style": "weight_decay_style", "dropout": "dropout",
           "lr_schedule": "lr_schedule", "method": "method", "update_interval": "update_interval",
           "seed": "seed", "threads": "threads"}
_FLAGS = {param: "--" + dest.replace("_", "-") for dest, param in _PARAMS.items()}
_FLAGS["hidden_layer_sizes"] = "--hidden"


def _config_names():
    from .configs import names

    return names()


def _cli_message(message):
    """A message of the Python API with its parameter names replaced by the CLI's flags."""
    for param in sorted(_FLAGS, key=len, reverse=True):
        if message.startswith(param + " ") or message.startswith(param + "="):
            return _FLAGS[param] + message[len(param):]
    return message


def _k_values(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--schedule-k must be four numbers K1,K2,K3,K4, got {text!r}")
    return values


# (flags, argparse keywords incl. dest "<method>:<option>") of every method option.
_METHOD_OPTIONS = [
    (("--lam",), dict(type=float, dest="path-weight:lam", metavar="λ",
                      help="path-weight: fraction of weakest paths (default 0.1)")),
    (("--delta",), dict(type=float, dest="path-weight:delta", metavar="δ",
                        help="path-weight: regrowth scale δ of eq. 6 (default 1)")),
    (("--candidates",), dict(choices=("auto", "exact", "sampled"), dest="path-weight:candidates",
                             help="path-weight: weakest-path candidates by enumeration or "
                             "sampled quantile (default auto)")),
    (("--max-paths",), dict(type=int, dest="path-weight:max_paths", metavar="N",
                            help="path-weight: enumerate at most this many paths (default 1e6)")),
    (("--n-path-samples",), dict(type=int, dest="path-weight:n_path_samples", metavar="N",
                                 help="path-weight: paths sampled for the quantile (default 1e5)")),
    (("--count-rule",), dict(choices=("conserve", "paper"), dest="path-weight:count_rule",
                             help="path-weight: conserve the link count (default) or the "
                             "paper's per-source draws")),
    (("--time-varying",), dict(action="store_const", const=True, dest="path-weight:time_varying",
                               help="path-weight: adapt λ, ζ, δ by eqs. 7-9")),
    (("--schedule-k",), dict(type=_k_values, dest="path-weight:K", metavar="K1,K2,K3,K4",
                             help="path-weight: schedule constants (default 2,0.5,0.1,0.5)")),
    (("--probe-size",), dict(type=int, dest="path-weight:probe_size", metavar="N",
                             help="path-weight: samples used for the layer norms s_l (default 1024)")),
    (("--sensitivity-form",), dict(choices=("quotient", "relative"), dest="sensitivity:form",
                                   help="sensitivity: |g/w| as printed (default) or |g·w|")),
    (("--shortfall",), dict(choices=("random", "drop"), dest="cht:shortfall",
                            help="cht: fill missing CH3-L3 candidates at random (default) or drop")),
    (("--new-weights",), dict(choices=("zero", "swi"), dest="cht:new_weights",
                              help="cht: weights of regrown links (default zero)")),
    (("--early-stop",), dict(choices=("layer", "all", "never"), dest="cht:early_stop",
                             help="cht: stop evolving per layer (default) or when all layers pass")),
    (("--early-stop-threshold",), dict(type=float, dest="cht:early_stop_threshold", metavar="X",
                                       help="cht: overlap above which the topology stops (default 0.9)")),
    (("--topology-init",), dict(choices=("csti", "erdos_renyi"), dest="cht:topology_init",
                                help="cht: correlated (CSTI, default) or Erdős–Rényi topology")),
    (("--sparsity",), dict(type=float, dest="cht:sparsity", metavar="S",
                           help="cht: sparsity of the CSTI layers (default 0.99)")),
]


def _method_options(args, method_name):
    """The method options given on the command line; refuses another method's options."""
    options = {}
    for flags, kw in _METHOD_OPTIONS:
        value = getattr(args, kw["dest"])
        if value is None:
            continue
        method, name = kw["dest"].split(":")
        if method != method_name:
            raise ValueError(f"{flags[0]} is an option of --method {method}, not of "
                             f"--method {method_name}")
        if name == "K":
            options.update(zip(("K1", "K2", "K3", "K4"), value))
        else:
            options[name] = value
    return options or None


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None and False (their help says what happens instead)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _quirk_list():
    from .fidelity import QUIRKS

    return list(QUIRKS.values())


def _quirk_names(text):
    from .fidelity import QUIRKS

    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUIRKS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"--quirks must be comma-separated quirk names ({', '.join(QUIRKS)}), got {text!r}")
    return names


def _hidden(text):
    items = text.replace(" ", "").split(",")
    try:
        sizes = tuple(int(s) for s in items)      # an empty item ("10,,10") is an error
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated positive integers, got {text!r}")
    return sizes


def build_parser():
    parser = _Parser(prog="refset", description="Truly sparse MLPs trained with dynamic "
                     "sparse topologies: SET, Path-Weight, Sensitivity and CHT.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sweep,plot,oracle,fingerprint,info}",
                                parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a sparse MLP (SET, Path-Weight, Sensitivity, CHT)",
                       formatter_class=_HelpFormatter,
                       description="Train a truly sparse MLP and write history.json, history.csv and "
                       "model.npz (checkpointed after every epoch) to the output directory.")
    d = t.add_argument_group("data")
    d.add_argument("--config", metavar="NAME_OR_FILE", default=None,
                   help="start from a one-run TOML config ([data] and [model] tables, as in "
                   "sweep configs): a file, or a shipped configuration: "
                   + ", ".join(_config_names()) + ". Options given here override it")
    d.add_argument("--dataset", default=None,
                   help="dataset name (see refset.datasets.list_datasets()); 'synthetic' needs "
                   "no file (default synthetic)")
    d.add_argument("--data-dir", default=None,
                   help="directory with the data files (default: $REFSET_DATA, else ~/.cache/refset)")
    d.add_argument("--download", action="store_true",
                   help="fetch a missing dataset file from its canonical URL (checksum verified)")
    d.add_argument("--test-size", type=float, default=None,
                   help="test fraction of the split (default 1/3; MNIST and Fashion-MNIST keep "
                   "their official split)")
    d.add_argument("--n-samples", type=int, default=None,
                   help="synthetic dataset only: number of samples (default 2000)")
    d.add_argument("--n-features", type=int, default=None,
                   help="synthetic dataset only: number of features (default 200)")
    d.add_argument("--n-classes", type=int, default=None,
                   help="synthetic dataset only: number of classes (default 4)")
    m = t.add_argument_group("model", "Defaults are SparseMLP's (one default for the CLI and the "
                             "API).")
    m.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes, comma-separated (default "
                   f"{','.join(map(str, _DEFAULTS['hidden_layer_sizes']))}; with --method cht "
                   "and CSTI: the number of features, three times (1x))")
    m.add_argument("--epsilon", type=float, default=None,
                   help=f"Erdős–Rényi sparsity ε (default {_DEFAULTS['epsilon']:g})")
    m.add_argument("--zeta", type=float, default=None,
                   help=f"revise fraction ζ in [0, 1] (every method; 0 = static topology; "
                   f"default {_DEFAULTS['zeta']})")
    m.add_argument("--prune", choices=("sign", "magnitude", "original"), default=None,
                   help="SET removal rule: sign = the papers' floor(ζ n) of the negatives and "
                   "of the positives closest to zero; magnitude = the smallest |w|; original = "
                   f"the original code's thresholds (default {_DEFAULTS['prune']})")
    m.add_argument("--loss", choices=("cross_entropy", "mse"), default=None,
                   help="cross_entropy = softmax + cross-entropy; mse = sigmoid + squared error "
                   f"(the original SET code) (default {_DEFAULTS['loss']})")
    m.add_argument("--weight-init", choices=("normal", "he_uniform", "xavier_uniform", "swi"),
                   default=None, help="weight initialiser (normal = N(0, 0.1²), the SET code's; "
                   "swi = CHT's sparse weight initialisation); default: swi for --method cht, "
                   "normal otherwise")
    m.add_argument("--dense-output", action=argparse.BooleanOptionalAction, default=None,
                   help="dense, static output layer (default: yes for cht, no otherwise)")
    m.add_argument("--dtype", choices=("float64", "float32"), default=None,
                   help=f"floating-point type of weights and activations (default "
                   f"{_DEFAULTS['dtype']})")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {_DEFAULTS['epochs']}; with --resume, the "
                   "new total)")
    o.add_argument("--batch-size", type=int, default=None,
                   help=f"mini-batch size (default {_DEFAULTS['batch_size']})")
    o.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {_DEFAULTS['learning_rate']})")
    o.add_argument("--momentum", type=float, default=None,
                   help=f"SGD momentum (default {_DEFAULTS['momentum']})")
    o.add_argument("--weight-decay", type=float, default=None,
                   help=f"weight decay λ on weights, not biases (default "
                   f"{_DEFAULTS['weight_decay']:g})")
    o.add_argument("--weight-decay-style", choices=("coupled", "original"), default=None,
                   help="coupled: v ← μv − η(g + λw), w ← w + v; original (the SET code): "
                   "v ← μv − ηg, w ← w + v − λw, not scaled by η "
                   f"(default {_DEFAULTS['weight_decay_style']})")
    o.add_argument("--dropout", type=float, default=None,
                   help=f"inverted dropout rate on hidden layers (default {_DEFAULTS['dropout']})")
    o.add_argument("--lr-schedule", choices=("constant", "linear"), default=None,
                   help="linear: decay to 1%% of --lr over 90%% of the epochs "
                   "(default: linear for cht, constant otherwise)")
    e = t.add_argument_group("topology evolution", "Options of one method are refused with "
                             "another; unset options take the method's defaults.")
    e.add_argument("--method", choices=METHODS, default=None,
                   help="set (Mocanu et al.), path-weight / sensitivity (Naji et al.), "
                   f"cht (Zhang et al.) (default {_DEFAULTS['method']})")
    e.add_argument("--update-interval", type=int, default=None,
                   help="evolve the topology after every N-th epoch (default "
                   f"{_DEFAULTS['update_interval']})")
    for flags, kw in _METHOD_OPTIONS:
        e.add_argument(*flags, default=None, **kw)
    f = t.add_argument_group(
        "fidelity", "The papers' algorithm (default) or what the authors' published code does "
        "(ALGORITHMS §7; SET and CHT). A quirk overrides the option it concerns. Quirks: "
        + "; ".join(f"{q.name} [{', '.join(q.methods)}]" for q in _quirk_list()))
    f.add_argument("--fidelity", choices=("paper", "authors"), default=None,
                   help="authors: every quirk of the method's published code (for cht also the "
                   "authors' global image normalisation) (default paper)")
    f.add_argument("--quirks", type=_quirk_names, default=None, metavar="Q1,Q2",
                   help="switch on only these quirks (instead of --fidelity authors)")
    r = t.add_argument_group("run")
    r.add_argument("--seed", type=int, default=None,
                   help="seed of the split and of all training randomness (default 0: a run "
                   "of the command line is always reproducible; SparseMLP's None draws one)")
    r.add_argument("--threads", type=int, default=None,
                   help=f"compute threads of the kernels (default {_DEFAULTS['threads']})")
    r.add_argument("--out", default=None,
                   help="output directory (default: refset-runs/<dataset>-seed<seed>)")
    r.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    r.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue the run saved in RUN_DIR (up to --epochs if given)")
    r.add_argument("--quiet", action="store_true", help="no per-epoch output")

    w = sub.add_parser("sweep", help="run a grid of trainings from a TOML config (resumable)",
                       formatter_class=_HelpFormatter,
                       description="Train every cell (dataset × grid point × replicate) of a "
                       "TOML config, in parallel, and write each run, results.csv/json and "
                       "summary.csv/json to the output directory. Rerunning the same command "
                       "skips finished runs and retries failed ones. Config format: "
                       "python -c 'import refset.sweep; help(refset.sweep)'.")
    w.add_argument("config", help="the sweep config (TOML), e.g. experiments/zeta_quick.toml")
    w.add_argument("--out", default=None,
                   help="output directory (default: refset-runs/<experiment.name>)")
    w.add_argument("--jobs", type=int, default=1,
                   help="parallel worker processes, one compute thread each (ignored with "
                   "--dask, which uses every thread of the cluster)")
    w.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the cells on this Dask distributed scheduler "
                   "(pip install 'refset[distributed]')")
    w.add_argument("--data-dir", default=None,
                   help="directory with the data files (overrides data.data_dir; default: "
                   "$REFSET_DATA, else ~/.cache/refset)")
    w.add_argument("--dry-run", action="store_true",
                   help="list the cells (run id, seed, state) and exit")
    w.add_argument("--quiet", action="store_true", help="no per-run lines and no table")

    p = sub.add_parser("plot", help="figures of a sweep (or of one run directory)",
                       formatter_class=_HelpFormatter,
                       description="Write the figures of a refset train run directory "
                       "(learning curves: loss and accuracy per epoch, train and test, and the "
                       "time per epoch split into training / evaluation / topology; degree "
                       "distributions at the first and last epoch; link bookkeeping; the "
                       "method's own panels: CHT overlap, frozen layers, percolation and active "
                       "neurons, Path-Weight's λ, ζ, δ as used), or of a sweep output directory "
                       "(accuracy curves and execution times per dataset, and the figures of a "
                       "representative run).")
    p.add_argument("path", help="a refset sweep output directory or a refset train run directory")
    p.add_argument("--out", default=None, help="directory for the figures (default: PATH/plots)")
    p.add_argument("--format", default="png,svg", help="comma-separated file formats")
    p.add_argument("--quiet", action="store_true", help="do not list the files written")

    from .oracle.cli import add_parser as add_oracle_parser

    add_oracle_parser(sub, _Parser, _HelpFormatter)
    sub.add_parser("info", help="show the active backend, versions and threads")
    fp = sub.add_parser("fingerprint", help="SHA-256 of a saved network (compare runs bit for bit)",
                        formatter_class=_HelpFormatter,
                        description="Print the SHA-256 of a saved model's links, weights and "
                        "biases (SparseMLP.fingerprint) and its epoch. The same seed, refset "
                        "version and numpy give the same fingerprint on any build of refset.")
    fp.add_argument("path", help="a run directory (its model.npz) or a model .npz file")
    return parser


def _fail(message):
    sys.stderr.write(f"refset: error: {message}\n")
    return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(f"refset: warning: {message}\n")


# Options that --resume honours; every other train option conflicts with the stored run.
RESUME_OPTIONS = ("epochs", "threads", "data_dir", "quiet", "resume")


def _given_train_options(argv):
    """The ``dest`` of every ``refset train`` option given on the command line."""
    parser = build_parser()
    train = _subparser(parser, "train")
    for action in train._actions:
        action.default = argparse.SUPPRESS
    namespace, _ = parser.parse_known_args(argv)
    return {dest: _flag(train, dest) for dest in vars(namespace) if dest != "command"}


def _subparser(parser, name):
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _flag(parser, dest):
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    return dest


def _resume_model(args, given):
    """Load the run to resume, refusing what would change it; (model, data_args) or a message."""
    run_dir = args.resume
    if os.path.isfile(run_dir):
        return None, (f"--resume takes the run directory, not a file: did you mean "
                      f"--resume {os.path.dirname(run_dir) or '.'}?")
    if not os.path.isdir(run_dir):
        return None, f"--resume: {run_dir} is not a refset run directory (no such directory)"
    conflicting = [flag for dest, flag in given.items() if dest not in RESUME_OPTIONS]
    if conflicting:
        return None, (f"--resume continues {run_dir} with its stored settings "
                      f"({os.path.join(run_dir, 'config.json')}); {', '.join(conflicting)} "
                      f"cannot be changed (allowed: --epochs, --threads, --data-dir, --quiet)")
    try:
        with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        data_args = dict(config["data"])
    except FileNotFoundError:
        return None, f"--resume: {run_dir} holds no config.json (not a refset run directory)"
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"--resume: {run_dir}/config.json is unreadable ({exc})"
    checkpoint = os.path.join(run_dir, "model.npz")
    if not os.path.isfile(checkpoint):
        return None, f"--resume: {run_dir} holds no model.npz (the run saved no epoch yet)"
    model = SparseMLP.load(checkpoint)
    if args.epochs is not None:
        if args.epochs < model.epoch_:
            return None, (f"--epochs {args.epochs} is fewer than the {model.epoch_} epochs "
                          f"{run_dir} has trained")
        model.epochs = args.epochs
    if args.threads is not None:
        model.threads = args.threads
    model._validate_params()
    if args.data_dir is not None:
        data_args["data_dir"] = args.data_dir
    return (model, data_args), None


def _new_model(args):
    """The model, data arguments and run directory of a new run, or a message.

    Settings come from SparseMLP's defaults, then ``--config``, then the options given; the seed
    of a command-line run defaults to 0.  Returns ``((model, data_args, run_dir, auto_hidden),
    None)`` — ``auto_hidden``: CHT with CSTI and no width given, the widths are set to the
    number of features (1x) once the data are loaded — or ``(None, message)``.
    """
    from ._lock import check_output_dir
    from .configs import load_train_config
    from .estimator.run import make_data_args
    from .fidelity import resolve

    config = load_train_config(args.config) if args.config else {"data": {}, "model": {}}
    params = dict(config["model"])
    options = dict(params.pop("method_options", None) or {})
    for dest, param in _PARAMS.items():
        value = getattr(args, dest)
        if value is not None:
            params[param] = value
    params.setdefault("seed", 0)
    params.setdefault("threads", 1)
    method = params.get("method", _DEFAULTS["method"])
    options.update(_method_options(args, method) or {})
    if args.quirks is not None and args.fidelity not in (None, "paper"):
        return None, "--quirks replaces --fidelity authors: give one of them"
    if args.quirks is not None:
        params["fidelity"] = args.quirks
    elif args.fidelity is not None:
        params["fidelity"] = args.fidelity
    quirks = resolve(params.get("fidelity", "paper"), method)
    data = config["data"]
    dataset = args.dataset or data.get("dataset", "synthetic")
    synthetic = dict(data.get("synthetic", {}))
    synthetic.update({k: v for k, v in (("n_samples", args.n_samples),
                                        ("n_features", args.n_features),
                                        ("n_classes", args.n_classes)) if v is not None})
    test_size = args.test_size if args.test_size is not None else data.get("test_size", 1 / 3)
    data_args = make_data_args(dataset, data_dir=args.data_dir or data.get("data_dir"),
                               test_size=test_size, seed=params["seed"], download=args.download,
                               synthetic=synthetic,
                               standardize="global" if "global_normalisation" in quirks
                               else True)
    run_dir = args.out or os.path.join("refset-runs", f"{dataset}-seed{params['seed']}")
    check_output_dir(run_dir, "--out")
    if os.path.exists(os.path.join(run_dir, "model.npz")) and not args.force:
        return None, (f"{run_dir} already holds a trained model; use --resume {run_dir} to "
                      "continue it, --out for a new directory, or --force to overwrite")
    auto_hidden = (method == "cht" and "hidden_layer_sizes" not in params
                   and options.get("topology_init", "csti") == "csti")
    model = SparseMLP(**params, method_options=options or None)
    model._validate_params()
    return (model, data_args, run_dir, auto_hidden), None


@contextlib.contextmanager
def _run_directory_lock(run_dir, quiet=False):
    """Own an existing run directory for the run: a second ``refset train`` on it is refused,
    and temporary files an interrupted run left behind (``.tmp-*``) are removed.  A new
    directory needs neither (it appears with the first checkpoint)."""
    from ._lock import lock_directory, remove_stale_temporaries, size_text

    if not os.path.isdir(run_dir):
        yield
        return
    with lock_directory(run_dir, what="refset train", name="run directory"):
        count, nbytes = remove_stale_temporaries(run_dir, recursive=False)
        if count and not quiet:
            print(f"removed {count} temporary file(s) ({size_text(nbytes)}) left by an "
                  f"interrupted run in {run_dir}")
        yield


def _train(args, given=None):
    """``refset train``: nothing is written until the command is known to be valid (the run
    directory, ``config.json`` and the history appear with the first finished epoch)."""
    from .estimator.run import load_run_data, run_config, write_run_config, write_run_history

    given = {} if given is None else given
    if args.resume:
        found, problem = _resume_model(args, given)
        if problem:
            return _fail(problem)
        (model, data_args), run_dir = found, args.resume
        auto_hidden = False
    else:
        found, problem = _new_model(args)
        if problem:
            return _fail(problem)
        model, data_args, run_dir, auto_hidden = found
    args.run_dir = run_dir                  # for the interruption message
    model.verbose = 0 if args.quiet else (2 if sys.stderr.isatty() else 1)
    if args.resume and model.epoch_ >= model.epochs:
        print(f"{run_dir} has already trained {model.epoch_} epochs; give a larger --epochs "
              "to continue it")
        return 0

    import numpy as np

    t0 = time.perf_counter()
    data = load_run_data(data_args)
    if not args.quiet:
        print(f"{data.summary()}  (loaded in {time.perf_counter() - t0:.1f}s)")
    if not args.resume and auto_hidden:     # CSTI's 1x widths: the number of features
        model.set_params(hidden_layer_sizes=(data.X_train.shape[1],) * 3)
        if not args.quiet:
            print(f"--method cht: hidden layers {data.X_train.shape[1]} x 3 (CSTI 1x; give "
                  "--hidden for 2x)")
    if not args.resume:                     # refuse what cannot fit before any file exists
        model._check_before_init(data.X_train.shape[1], np.unique(data.y_train).size)
    config = run_config(data_args, model)

    def save_run(m, record):
        if m.epoch_ == first_epoch:         # the checkpoint of this epoch is written
            write_run_config(run_dir, config)
        write_run_history(run_dir, m.history_, config)

    first_epoch = (model.epoch_ + 1) if args.resume else 1
    t0 = time.perf_counter()
    with _run_directory_lock(run_dir, quiet=args.quiet):
        model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test),
                  resume=bool(args.resume), checkpoint=os.path.join(run_dir, "model.npz"),
                  callback=save_run)
    if not args.quiet:
        last = model.history_[-1]
        print(f"done: test accuracy {last['test_accuracy']:.4f} after {model.epoch_} epochs "
              f"({time.perf_counter() - t0:.1f}s); results in {run_dir}/")
    return 0


def _sweep(args):
    from .sweep import load_config, plan_sweep, run_sweep

    config = load_config(args.config)
    out = args.out or os.path.join("refset-runs", config["experiment"]["name"])
    if args.dry_run:
        config, plan, missing = plan_sweep(args.config, out, data_dir=args.data_dir)
        width = max(len(cell.run_id) for cell, _ in plan)
        for cell, state in plan:
            print(f"{cell.run_id:<{width}}  seed {cell.seed:>10}  {state}")
        for name, message in missing.items():
            print(f"{name}: {message}")
        states = [state for _, state in plan]
        counts = ", ".join(f"{states.count(s)} {s}" for s in
                           ("done", "failed", "skipped", "missing", "pending") if states.count(s))
        print(f"{len(plan)} runs ({counts}) -> {out}")
        return 0
    rows = run_sweep(args.config, out, jobs=args.jobs, dask=args.dask, progress=not args.quiet,
                     data_dir=args.data_dir)
    if not args.quiet:
        print(f"results in {out}/ (results.csv, summary.csv; refset plot {out})")
    failure = rows.failure_message()
    if failure:
        sys.stderr.write(f"refset: {failure}\n")
        return 1
    return 0


def _plot(args):
    from .plots import plot_results

    formats = tuple(f.strip().lower().lstrip(".") for f in args.format.split(",") if f.strip())
    if not formats:
        raise ValueError(f"--format must list file formats, e.g. png,svg, got {args.format!r}")
    paths = plot_results(args.path, args.out, formats=formats, quiet=True)
    if not args.quiet:
        for path in paths:
            print(path)
        print(f"{len(paths)} files written")
    return 0


def _fingerprint(args):
    path = os.path.join(args.path, "model.npz") if os.path.isdir(args.path) else args.path
    model = SparseMLP.load(path)
    print(f"{model.fingerprint()}  epoch {model.epoch_}  {path}")
    return 0


def _oracle(args):
    from .oracle.cli import run

    return run(args)


class _Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _os_error_message(exc):
    """One line for an operating-system error: what failed, on which file."""
    what = exc.strerror or str(exc) or type(exc).__name__
    files = [f for f in (exc.filename, exc.filename2) if f is not None]
    return f"{what}: {' -> '.join(map(str, files))}" if files else what


def _interrupted(args, terminated):
    cause = "terminated (SIGTERM)" if terminated else "interrupted"
    if args.command == "train":
        run_dir = getattr(args, "run_dir", None)
        if run_dir and os.path.exists(os.path.join(run_dir, "model.npz")):
            return (f"refset: {cause}; the last completed epoch is saved: continue with "
                    f"refset train --resume {run_dir}")
        return f"refset: {cause} before the first epoch ended; nothing was saved"
    if args.command == "sweep":
        return (f"refset: {cause}; every finished run is saved: rerun the same command to "
                "continue")
    return f"refset: {cause}"


def main(argv=None):
    """Entry point of the ``refset`` console script; returns the exit status."""
    import signal
    import threading

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        from . import show_config

        show_config()
        return 0
    warnings.showwarning = _one_line_warning
    command = {"train": _train, "sweep": _sweep, "plot": _plot, "oracle": _oracle,
               "fingerprint": _fingerprint}[args.command]
    previous = None
    if threading.current_thread() is threading.main_thread():   # signals need the main thread
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.command == "train":
            return command(args, _given_train_options(argv))
        return command(args)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        sys.stderr.write(_interrupted(args, terminated) + "\n")
        return 143 if terminated else 130
    except (ValueError, FileNotFoundError, ImportError, FloatingPointError) as exc:
        message = (str(exc).splitlines()[0] if isinstance(exc, ImportError)
                   else " ".join(str(exc).split()))
        return _fail(_cli_message(message) if args.command == "train" else message)
    except OSError as exc:
        return _fail(_os_error_message(exc))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
