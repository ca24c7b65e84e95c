"""The services that ship with spt-api, one folder each; each is registered by an entry point in setup.cfg."""
