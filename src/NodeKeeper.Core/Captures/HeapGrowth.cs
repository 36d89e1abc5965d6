using System.Globalization;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// One class's change between two heap snapshots (see <see cref="HeapSnapshotSummary.Compare"/>): the usual way to
/// name a leak is the class whose instances keep piling up between two snapshots taken some time apart.
/// </summary>
/// <param name="Class">The class as DevTools names it, e.g. "Session" or "(string)".</param>
public sealed record HeapGrowth(string Class, long CountBefore, long CountAfter, long SizeBefore, long SizeAfter)
{
    /// <summary>How many more nodes of this class the second snapshot holds (negative if fewer).</summary>
    public long CountDelta => CountAfter - CountBefore;

    /// <summary>How many more bytes of self size (negative if fewer).</summary>
    public long SizeDelta => SizeAfter - SizeBefore;

    /// <summary>One line, e.g. <c>Session: +12,000 objects (+1.2 MiB), now 50,000 (5.0 MiB)</c>.</summary>
    public string Describe()
    {
        var objects = Abs(CountDelta) == 1 ? "object" : "objects";
        return string.Create(CultureInfo.InvariantCulture,
            $"{Class}: {Sign(CountDelta)}{Abs(CountDelta):N0} {objects} ({Sign(SizeDelta)}{Format(Abs(SizeDelta))}), now {CountAfter:N0} ({FormatBytes(SizeAfter)})");
    }

    /// <summary>Bytes for people: "512 B", "3.4 KiB", "1,234.5 MiB" (invariant culture, one decimal).</summary>
    public static string FormatBytes(long bytes) => bytes < 0 ? "-" + Format(Abs(bytes)) : Format(Abs(bytes));

    private static string Format(ulong bytes)
    {
        if (bytes < 1024) return string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} B");
        if (bytes < 1024 * 1024) return string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:N1} KiB");
        return string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):N1} MiB");
    }

    private static ulong Abs(long v) => v < 0 ? (ulong)(-(v + 1)) + 1 : (ulong)v;

    private static string Sign(long delta) => delta < 0 ? "-" : "+";
}
