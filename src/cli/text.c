/* placeholder until the subcommand lands (not committed) */
#include "cli.h"
int cli_text(int argc, char **argv, int first) {
    (void)argc, (void)argv, (void)first;
    cli_die(2, "text: not built yet");
}
