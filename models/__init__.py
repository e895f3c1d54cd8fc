"""The shipped model variants, one folder each (``manifest.json`` + ``model.safetensors``).

Installed as the package ``nav_models`` so that ``pip install .`` carries them; found through
:func:`configs.models_dir`. Nothing here is imported at run time but this file's location.
"""
