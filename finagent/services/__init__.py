"""The actors of the daemon: thin loops that call the domain and the ports."""
