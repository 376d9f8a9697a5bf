"""gankit's presets, shipped inside the package as ``gankit.presets``: one TOML overlay
each (see :func:`gankit.presets_index.find_preset`)."""
