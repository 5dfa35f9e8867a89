"""vsbatch: survey light curves to queryable catalogs of periods, features and classes."""

__version__ = "0.1.0"
