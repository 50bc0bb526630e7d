/* placeholder until the subcommand lands (not committed) */
#include "cli.h"
int cli_forecast(int argc, char **argv, int first) {
    (void)argc, (void)argv, (void)first;
    cli_die(2, "forecast: not built yet");
}
