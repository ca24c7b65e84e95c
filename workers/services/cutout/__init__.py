"""The ``cutout`` service: postage stamps of the SPT-3G sky maps around positions.

``params.py`` (light, imported by the API) declares the parameters; the heavy
modules (``catalogue``, ``cut``, ``bundle``, ``run``, ``demo``) import astropy
and numpy and are loaded by workers, the CLI and tests only.
"""
