"""The trend: many runs of one machine class in commit order, one series per case, and the steps in each series
found by a change-point library (ruptures). `python -m reports trend FOLDER ...`; docs/trend.md."""
