/* Subcommands of the tinv CLI: each gets argv after the command name (argv[0] = command). */
#ifndef TINV_CLI_COMMANDS_H
#define TINV_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_demo_toy(int argc, char **argv); /* tinv demo --toy */

#endif
