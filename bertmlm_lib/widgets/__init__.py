"""Widgets that make the stages visible. Each has a pure renderer (data in, HTML out) that the tests
check without a browser, and a thin function that wires core ipywidgets controls to it (core
widgets only, so JupyterLab, Binder and Colab all show them)."""
