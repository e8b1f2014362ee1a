"""`python -m sound_separation <command>`: the `sound-separation` command."""

from sound_separation import cli

cli.console_main()
