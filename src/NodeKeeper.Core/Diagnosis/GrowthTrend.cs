namespace NodeKeeper.Core.Diagnosis;

/// <summary>A steady rise of a memory figure: its rate, and when it would reach a limit at that rate.</summary>
public sealed record GrowthEstimate(double BytesPerSecond, double Fit, TimeSpan Span, long Latest)
{
    public double MbPerMinute => BytesPerSecond * 60 / (1024 * 1024);

    /// <summary>How long until the figure reaches the limit at this rate; null when already there or no limit.</summary>
    public TimeSpan? TimeTo(long? limit) =>
        limit is { } l && l > Latest && BytesPerSecond > 0 ? TimeSpan.FromSeconds((l - Latest) / BytesPerSecond) : null;
}

/// <summary>
/// Tells a leak from a process that merely uses memory. Samples (time, bytes) over a sliding window are fitted with a
/// straight line; a leak is a rise that is steady (the line fits, R² ≥ <see cref="MinFit"/>), that goes on (the later
/// half of the window still rises at half the rate or more, which a warm-up that levels off does not), and that is
/// large enough to matter (at least <see cref="MinRiseBytes"/> and <see cref="MinRiseFraction"/> of the start).
/// A sample costs O(1) whatever the window holds: the samples sit in a ring of at most <see cref="Capacity"/> (a flood
/// of samples shortens the window instead of growing it), and both fits come from running sums of exact integers
/// (ticks since the window's first sample, bytes), which neither drift nor round however long the series.
/// </summary>
public sealed class GrowthTrend
{
    public const double MinFit = 0.8;
    public const long MinRiseBytes = 8L << 20;
    public const double MinRiseFraction = 0.05;
    /// <summary>The most samples the window holds: 34 minutes of one a second.</summary>
    public const int Capacity = 2048;
    /// <summary>256 TiB: no process has more, so a figure beyond it (a report can say anything) is not a sample.</summary>
    public const long MaxBytes = 1L << 48;
    /// <summary>The longest window: with it, Capacity and MaxBytes every sum stays far inside an Int128.</summary>
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(1);

    private readonly long _window;
    private readonly TimeSpan _minSpan;
    private readonly int _minSamples;
    private (long At, long Bytes)[] _ring = new (long, long)[16];
    private int _head;
    private int _count;
    /// <summary>Ticks of the oldest sample: the origin of x in both sums.</summary>
    private long _origin;
    /// <summary>Where the later half (samples Count/2 and after) begins, counted from the oldest.</summary>
    private int _split;
    private Sums _all;
    private Sums _later;

    public GrowthTrend(TimeSpan window, TimeSpan minSpan, int minSamples = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window.Ticks, nameof(window));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(window, MaxWindow);
        _window = window.Ticks;
        _minSpan = minSpan;
        _minSamples = minSamples;
    }

    public static GrowthTrend Default() => new(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(15));

    public int Count => _count;

    public void Add(DateTimeOffset at, long bytes)
    {
        var t = at.UtcTicks;
        if (bytes is < 0 or >= MaxBytes) return;
        if (_count > 0 && t <= At(_count - 1).At) return;
        while (_count > 0 && t - At(0).At > _window) RemoveOldest();
        if (_count == Capacity) RemoveOldest();
        if (_count == 0) _origin = t;
        if (_count == _ring.Length) Grow();
        _ring[(_head + _count) % _ring.Length] = (t, bytes);
        _count++;
        _all.Add(t - _origin, bytes);
        _later.Add(t - _origin, bytes);
        Balance();
    }

    public void Reset()
    {
        _head = _count = _split = 0;
        _all = _later = default;
    }

    /// <summary>The growth when the samples show a leak, else null.</summary>
    public GrowthEstimate? Estimate()
    {
        if (_count < _minSamples) return null;
        var span = TimeSpan.FromTicks(At(_count - 1).At - At(0).At);
        if (span < _minSpan) return null;
        var (slope, intercept, fit) = _all.Fit();
        if (slope <= 0 || fit < MinFit) return null;
        var (laterSlope, _, _) = _later.Fit();
        if (laterSlope < slope / 2) return null;
        var rise = slope * span.TotalSeconds;
        var start = Math.Max(intercept, 1);
        if (rise < MinRiseBytes || rise < start * MinRiseFraction) return null;
        return new GrowthEstimate(slope, fit, span, At(_count - 1).Bytes);
    }

    /// <summary>The i-th sample, 0 the oldest.</summary>
    private (long At, long Bytes) At(int i) => _ring[(_head + i) % _ring.Length];

    private void Grow()
    {
        var bigger = new (long, long)[Math.Min(_ring.Length * 2, Capacity)];
        for (var i = 0; i < _count; i++) bigger[i] = At(i);
        _ring = bigger;
        _head = 0;
    }

    private void RemoveOldest()
    {
        var (t, bytes) = At(0);
        _all.Remove(t - _origin, bytes);
        if (_split == 0) _later.Remove(t - _origin, bytes);
        else _split--;
        _head = (_head + 1) % _ring.Length;
        _count--;
        if (_count == 0) { Reset(); return; }
        // The next sample becomes the origin: moving it keeps every x within the window.
        var shift = At(0).At - _origin;
        _all.Shift(shift);
        _later.Shift(shift);
        _origin += shift;
    }

    /// <summary>Moves the boundary of the later half to Count/2, a sample at a time (at most one per change of Count).</summary>
    private void Balance()
    {
        for (; _split < _count / 2; _split++) { var (t, b) = At(_split); _later.Remove(t - _origin, b); }
        while (_split > _count / 2) { _split--; var (t, b) = At(_split); _later.Add(t - _origin, b); }
    }

    /// <summary>Σx, Σy, Σx², Σxy, Σy² of n samples, x in ticks since the origin; exact.</summary>
    private struct Sums
    {
        private long _n;
        private Int128 _x, _y, _xx, _xy, _yy;

        public void Add(long x, long y) { _n++; _x += x; _y += y; _xx += (Int128)x * x; _xy += (Int128)x * y; _yy += (Int128)y * y; }

        public void Remove(long x, long y) { _n--; _x -= x; _y -= y; _xx -= (Int128)x * x; _xy -= (Int128)x * y; _yy -= (Int128)y * y; }

        /// <summary>The same samples with the origin moved d ticks later: x becomes x − d.</summary>
        public void Shift(long d)
        {
            _xx -= 2 * d * _x - (Int128)_n * d * d;
            _xy -= d * _y;
            _x -= (Int128)_n * d;
        }

        /// <summary>Least squares: bytes = intercept + slope × seconds since the origin; and R².</summary>
        public readonly (double Slope, double Intercept, double Fit) Fit()
        {
            // n² times the centred sums, still exact: no mean is subtracted in floating point.
            var sxx = _n * _xx - _x * _x;
            var sxy = _n * _xy - _x * _y;
            var syy = _n * _yy - _y * _y;
            if (sxx == 0) return (0, (double)_y / _n, 0);
            var perTick = (double)sxy / (double)sxx;
            var fit = syy == 0 ? 0 : (double)sxy / (double)sxx * ((double)sxy / (double)syy);
            return (perTick * TimeSpan.TicksPerSecond, ((double)_y - perTick * (double)_x) / _n, fit);
        }
    }
}
