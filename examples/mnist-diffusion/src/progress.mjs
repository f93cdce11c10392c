// A progress bar on stderr: redrawn in place on a terminal, one line every few seconds otherwise
// (log files).

function fmtTime(s) {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return (h ? `${h}:${String(m).padStart(2, '0')}` : String(m)) + `:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  constructor(total, { label = '', width = 24, stream = process.stderr, interval = 5000 } = {}) {
    this.total = total;
    this.label = label;
    this.width = width;
    this.stream = stream;
    this.tty = Boolean(stream.isTTY);
    this.interval = interval;
    this.start = performance.now();
    this.lastLine = -Infinity;
    this.startCount = 0;
  }

  /** Starts timing from `done` (resumed runs: the rate counts only this run's steps). */
  restart(done) {
    this.start = performance.now();
    this.startCount = done;
  }

  update(done, info = '') {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = (done - this.startCount) / Math.max(elapsed, 1e-9);
    const eta = (this.total - done) / rate;
    const frac = Math.min(1, done / this.total);
    const fill = Math.round(frac * this.width);
    const bar = '#'.repeat(fill) + '-'.repeat(this.width - fill);
    const line = `${this.label}[${bar}] ${done}/${this.total} ${info} ${rate.toFixed(2)} it/s elapsed ${fmtTime(elapsed)} ETA ${fmtTime(eta)}`;
    if (this.tty) {
      this.stream.write(`\r${line}\x1b[K`);
    } else if (performance.now() - this.lastLine >= this.interval || done >= this.total) {
      this.stream.write(`${line}\n`);
      this.lastLine = performance.now();
    }
    this.rate = rate;
  }

  done() {
    if (this.tty) this.stream.write('\n');
  }
}
