"""Command-line adapters: `exportgate check`, `exportgate audit`, `exportgate catalogue`."""
