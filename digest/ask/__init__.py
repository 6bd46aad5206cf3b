"""Ask the archive: grounded answers to readers' questions across every stored paper (issue 22)."""
