"""What the user hands in, parsed once into typed values: the settings, their
checks, the accounts setting, the files of identifiers to track."""
