// Command rolegate is the role-request portal. main only calls run, so that
// tests can start the whole program in-process.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rolegate:", err)
		os.Exit(exitCode(err))
	}
}

// exitCoder lets a subcommand choose its exit status (audit verify: 1 when
// the trail does not verify).
type exitCoder interface{ ExitCode() int }

func exitCode(err error) int {
	if ec, ok := err.(exitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}

// run dispatches the subcommands; with none, it serves.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(ctx, args[1:], getenv, stdout, stderr)
		case "migrate":
			return migrate(ctx, args[1:], getenv, stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		}
		if cmd, ok := subcommands()[args[0]]; ok {
			return cmd(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	return serve(ctx, args, getenv, stdout, stderr)
}

// command is one subcommand; each lives in its own file of this package.
type command func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// subcommands beyond serve and migrate.
func subcommands() map[string]command {
	return map[string]command{
		"audit":       auditCommand,
		"backup":      backup,
		"healthcheck": healthcheck,
	}
}

const usage = `rolegate: the role-request portal for an OpenAI organization.

Usage:
  rolegate [serve] [-dev] [-addr host:port] [-db file] [-base-url url]
  rolegate migrate [-db file]          apply database migrations and exit
  rolegate backup FILE [-db file]      consistent online copy of the database
  rolegate audit verify [-db file] [-checkpoint FILE -verifier KEY]
                                       walk the audit trail, chain and tree (exit 1: broken)
  rolegate audit verify -checkpoint OLD -checkpoint NEW -verifier KEY [-db file | -proof FILE]
                                       the trail between two checkpoints was only appended to
  rolegate audit verify -export FILE [-checkpoint FILE] [-verifier KEY]
                                       check an exported JSON Lines file offline
  rolegate audit prove -event N [-checkpoint FILE] | -checkpoint OLD -checkpoint NEW
                                       print an inclusion or consistency proof
  rolegate audit checkpoint [-db file] sign a checkpoint now (ROLEGATE_CHECKPOINT_KEY_FILE)
  rolegate audit keygen [-name NAME] FILE
                                       create a checkpoint signer key

Configuration comes from the environment (see README.md).
`
