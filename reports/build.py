from pathlib import Path

class ReportError(Exception):
    pass

def build(path: Path) -> Path:
    return path
