"""Hides torch from the trainer subprocesses of the tests (`tests.helpers.cli_env` puts this
folder first on PYTHONPATH).

The trainer never uses torch, but tensorboardX imports it whenever it is installed (torch is a
test extra here), which costs each trainer process about 1.6 s of start-up. Hiding it also
checks that training works on a machine without torch.
"""

raise ImportError("torch is hidden from trainer subprocesses in the tests")
