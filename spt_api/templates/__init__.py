"""The Jinja2 templates of the HTML pages (package data; a package so setuptools installs them without warning)."""
