"""The `moderate` command line: the only package that imports all the others."""
