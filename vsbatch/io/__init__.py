"""Reading inputs, ingesting text light curves and writing catalogs."""
