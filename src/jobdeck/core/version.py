"""The package version, in a module of its own so that code inside jobdeck need not import the package front."""

__version__ = "0.1.0"
