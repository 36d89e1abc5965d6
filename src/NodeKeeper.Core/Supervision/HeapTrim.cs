namespace NodeKeeper.Core.Supervision;

/// <summary>
/// When the daemon gives memory back after a burst. An idle daemon allocates little, so after a restart storm, a
/// reload or a long `nk logs` its garbage collector may not run again for a long while, and the memory the burst
/// used stays committed: the daemon's RSS stays where the burst left it. Fed the process's total allocated bytes
/// once a second, this says "trim now" (a full, compacting collection that returns free memory to the system) on the
/// first quiet second (less than <see cref="QuietBelow"/> allocated) after a busy one, once at least
/// <see cref="After"/> bytes were allocated since the last trim. A steady daemon, however many apps it watches,
/// allocates a few KiB a second and never trims; a burst costs one collection of a few milliseconds when it is over.
/// </summary>
public sealed class HeapTrim(long after = HeapTrim.DefaultAfter, long quietBelow = HeapTrim.DefaultQuietBelow)
{
    public const long DefaultAfter = 4L << 20;
    public const long DefaultQuietBelow = 256L << 10;

    public long After { get; } = after;
    public long QuietBelow { get; } = quietBelow;

    private long _atTrim = -1;
    private long _last = -1;
    private bool _busy;

    /// <summary>Takes this second's reading of the total allocated bytes; true when it is time to trim.</summary>
    public bool Observe(long allocated)
    {
        if (_last < 0)
        {
            _last = _atTrim = allocated;
            return false;
        }
        var second = allocated - _last;
        _last = allocated;
        if (second >= QuietBelow)
        {
            _busy = true;
            return false;
        }
        if (!_busy || allocated - _atTrim < After) return false;
        _busy = false;
        _atTrim = allocated;
        return true;
    }
}
