"""lanes: a Prometheus exporter for the network paths of storage systems."""

__version__ = "0.1.0"
