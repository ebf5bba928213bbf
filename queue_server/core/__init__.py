"""The pure queue core: rules, models and the interfaces to the outside (see README.md)."""
