"""Built-in plugins, each registered through the ``tradecredit`` entry-point group."""
