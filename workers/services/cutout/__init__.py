"""The ``cutout`` service: postage stamps of the SPT-3G sky maps around sky positions.

``params.py`` (light, imported by the API) declares the parameters, with the
light parsers it uses (``target``, ``soda``, ``table``, ``bands``); the heavy
modules (the map index, the S3 reads, cutting, writing, ``run``, ``merge``,
``demo``) import astropy and numpy and are loaded by workers, the CLI and tests
only. ``docs/cutout.md`` lists every module.
"""
