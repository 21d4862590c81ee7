"""One module per subcommand group; each defines `register(app)`."""
