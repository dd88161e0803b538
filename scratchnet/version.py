"""The package version: a leaf module, so any layer (model files, the report, the CLI) can read it
without importing the package root or anything above itself."""

__version__ = "0.1.0"
