"""Ports: ``typing.Protocol`` interfaces, one module per port. Import from the modules."""
