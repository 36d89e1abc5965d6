namespace NodeKeeper.Core.Supervision;

/// <summary>
/// When the daemon collects its young generation itself. An idle daemon with hundreds of apps allocates a few hundred
/// KiB a second (reports, samples), and the collector lets the young generation grow for megabytes before it runs,
/// each megabyte a megabyte more resident. Fed the count of young collections and the total allocated bytes once a
/// second, this says "collect now" once <see cref="Cap"/> bytes were allocated since the last young collection, so the
/// allocations keep reusing the same pages. A busy daemon reaches the collector's own budget first and is not touched.
/// </summary>
public sealed class YoungCap(long cap = YoungCap.DefaultCap)
{
    public const long DefaultCap = 2L << 20;

    public long Cap { get; } = cap;

    private int _count = -1;
    private long _from;

    /// <summary>Takes this second's readings; true when it is time for a young collection.</summary>
    public bool Observe(int youngCollections, long allocated)
    {
        if (youngCollections != _count)
        {
            (_count, _from) = (youngCollections, allocated);
            return false;
        }
        if (allocated - _from < Cap) return false;
        _from = allocated;
        return true;
    }
}
