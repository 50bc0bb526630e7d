/* recur-train: train recurrent models from the command line.
 *   recur-train [mnist] ...      the Keras LSTM tutorial on MNIST (the default)
 *   recur-train forecast ...     a time series: windows predict a value ahead
 *   recur-train text ...         a character model, with sampling
 *   recur-train classify ...     sequences of characters into classes
 * Each subcommand is a file of src/cli/; cli.h holds what they share. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: recur-train [SUBCOMMAND] [FLAGS]\n"
    "  mnist     the Keras LSTM tutorial on MNIST (the default when no subcommand is given)\n"
    "  forecast  forecast a column of a CSV time series\n"
    "  text      a character-level language model of a text file, with sampling\n"
    "  classify  classify lines of text files (one file per class)\n"
    "recur-train SUBCOMMAND --help lists its flags. Common flags:\n"
    "  --layers SPEC --epochs N --batch N --lr X --decay X --clipnorm X --clipvalue X\n"
    "  --seed N --threads N --save FILE --load FILE --checkpoint FILE --resume FILE\n"
    "  --history FILE.csv --plot FILE.png|svg --quiet\n"
    "  SPEC: comma-separated layers: lstm:UNITS[:tanh|relu][:seq][:backwards],\n"
    "  gru:UNITS[...][:reset_after=0|1], rnn:UNITS[...] (SimpleRNN),\n"
    "  bidirectional:KIND:UNITS...[:merge=concat|sum|mul|ave], embedding:IN:OUT[:mask_zero],\n"
    "  masking[:VALUE], dense:UNITS[:ACTIVATION], dropout:RATE\n"
    "  --load FILE       start from a model file; --epochs more epochs (0: evaluate only)\n"
    "  --checkpoint FILE save model, optimizer and position after every epoch, and the last\n"
    "                    good state if training stops on a NaN\n"
    "  --resume FILE     continue a checkpoint: --epochs is the total\n"
    "  --history FILE    the per-epoch history as CSV; --plot FILE the training curves\n"
    "                    (gnuplot; PNG, or SVG for a .svg name)\n"
    "mpirun -np N recur-train ... trains data-parallel on N ranks (a build with MPI): each\n"
    "rank reads the data, --batch and --threads are per rank (a step takes N x --batch\n"
    "samples), rank 0 prints and writes every file.\n";

int main(int argc, char **argv) {
    cli_parallel_init(&argc, &argv); /* MPI when started by mpirun */
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        if (cli_rank() == 0) fputs(usage, stdout);
        return 0;
    }
    const char *sub = argc > 1 && strncmp(argv[1], "--", 2) ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "mnist")) return cli_mnist(argc, argv, sub ? 2 : 1);
    if (!strcmp(sub, "forecast")) return cli_forecast(argc, argv, 2);
    if (!strcmp(sub, "text")) return cli_text(argc, argv, 2);
    if (!strcmp(sub, "classify")) return cli_classify(argc, argv, 2);
    cli_die(2, "unknown subcommand '%s' (mnist, forecast, text, classify; see --help)", sub);
}
