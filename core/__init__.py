"""What the measuring side (bench/) and the rendering side (reports/) share, with no torch: the names of the
dimensions and phases, the result record and its schema version, run folders and safe file writes, and the
statistics of timed rounds. Both sides import from here; neither imports the other's torch or plots.
"""
