"""Machine A against machine B: the runs of several machines compared case by case.

sources reads and checks the runs; speedup pairs their cases and calls each difference (with core.stats);
comparison holds the result, made once; page lays it out as sections and writes it; plots draws the
speedups and throughputs. The command line is reports.commands.compare.
"""
