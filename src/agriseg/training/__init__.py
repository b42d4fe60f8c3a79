"""Lightning training: tasks, data modules and the ``train`` entry points."""
