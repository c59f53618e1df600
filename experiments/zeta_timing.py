"""Where the time of a SET epoch goes, for each ζ: the measurement behind the gain in
experiments/cavallaro2020.md.

Trains the Cavallaro network (1024-3000-3000-3000-20, ε = 20, B = 2, MSE, original weight
decay) on COIL20 for a few epochs per ζ, the ζ values interleaved round by round so that a
change in the machine's load hits every ζ alike, and prints the median seconds per epoch of
training, evaluation and topology update, and the gain 1 − t(ζ = 0) / t(ζ = 0.3) that a
150-epoch run would show.  One thread.

    REFSET_DATA=../shared/data python experiments/zeta_timing.py [--epochs 6] [--rounds 2]
"""
import argparse
import statistics

import refset

ZETAS = (0.0, 0.01, 0.02, 0.3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dataset", default="COIL20")
    args = parser.parse_args(argv)
    data = refset.load_dataset(args.dataset, test_size=1 / 3, seed=0)
    times = {z: {"train": [], "eval": [], "topology": []} for z in ZETAS}
    for r in range(args.rounds):
        for z in ZETAS:
            model = refset.SparseMLP((3000, 3000, 3000), epsilon=20, zeta=z, epochs=args.epochs,
                                     batch_size=2, learning_rate=0.01, momentum=0.9,
                                     weight_decay=2e-4, weight_decay_style="original",
                                     loss="mse", seed=r)
            model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
            for rec in model.history_[:-1]:          # the last epoch has no update
                times[z]["train"].append(rec["seconds_train"])
                times[z]["eval"].append(rec["seconds_eval"])
                times[z]["topology"].append(rec["seconds_topology"])
    print(f"{args.dataset}: median seconds per epoch over {args.rounds} x {args.epochs - 1} "
          "epochs per zeta (interleaved)")
    print(f"{'zeta':>6} {'train':>8} {'eval':>8} {'topology':>9} {'total':>8}")
    total = {}
    for z in ZETAS:
        med = {k: statistics.median(v) for k, v in times[z].items()}
        total[z] = sum(med.values())
        print(f"{z:>6} {med['train']:8.3f} {med['eval']:8.3f} {med['topology']:9.4f} "
              f"{total[z]:8.3f}")
    topo = {z: statistics.median(times[z]["topology"]) for z in ZETAS}
    common = statistics.median(times[0.3]["train"] + times[0.0]["train"]) + statistics.median(
        times[0.3]["eval"] + times[0.0]["eval"])
    gain = 1 - (common + topo[0.0]) / (common + topo[0.3])
    print(f"gain 1 - t(0)/t(0.3) with training and evaluation taken as common to both "
          f"(they do not depend on zeta): {gain:.4f}")
    print(f"gain from the raw medians: {1 - total[0.0] / total[0.3]:.4f}")


if __name__ == "__main__":
    main()
