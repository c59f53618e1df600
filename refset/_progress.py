"""A minimal progress bar for long epochs (stderr, no dependency)."""
import sys
import time


class ProgressBar:
    """Redraws ``[#####.....] i/n  elapsed`` on one line, at most every ``interval`` s.

    Shown only after ``delay`` seconds, so short epochs print nothing.
    """

    def __init__(self, total, label="", stream=None, delay=1.0, interval=0.2, width=30):
        self.total, self.label, self.width = total, label, width
        self.stream = sys.stderr if stream is None else stream
        self.delay, self.interval = delay, interval
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, done):
        now = time.perf_counter()
        if now - self.start < self.delay or (now - self.last < self.interval and done < self.total):
            return
        self.last = now
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label}[{bar}] {done}/{self.total} {now - self.start:.1f}s")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown:
            self.stream.write("\r" + " " * (self.width + len(self.label) + 30) + "\r")
            self.stream.flush()
