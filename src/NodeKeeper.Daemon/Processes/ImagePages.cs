using System.Globalization;
using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// The daemon's own executable pages, given back after a burst. Starting (the host, the config, a start of hundreds of
/// apps) runs code and reads data of nk-full that an idle daemon never touches again, and those pages would stay
/// resident until the machine runs short: about 13 MiB of the 16 MiB binary. After a burst they are dropped
/// (MADV_PAGEOUT) and read back one page at a time as the daemon needs them (MADV_RANDOM: no read-ahead), so what stays
/// resident is what the daemon uses. Only read-only mappings of the file are touched; its written data is not.
/// </summary>
public static partial class ImagePages
{
    private const int MADV_RANDOM = 1, MADV_PAGEOUT = 21;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);

    /// <summary>Drops the resident read-only pages of this process's executable; returns the bytes advised (0 when none or unsupported).</summary>
    public static long GiveBack()
    {
        var self = Environment.ProcessPath;
        if (self is null) return 0;
        long advised = 0;
        foreach (var (start, end) in ReadOnlyMappings(File.ReadLines("/proc/self/maps"), self))
        {
            var length = (nuint)(end - start);
            madvise((nint)start, length, MADV_RANDOM);
            if (madvise((nint)start, length, MADV_PAGEOUT) == 0) advised += (long)length;
        }
        return advised;
    }

    /// <summary>The read-only mappings of <paramref name="path"/> in a /proc/PID/maps listing: (start, end).</summary>
    public static List<(ulong Start, ulong End)> ReadOnlyMappings(IEnumerable<string> maps, string path)
    {
        var found = new List<(ulong, ulong)>();
        foreach (var line in maps)
        {
            // "start-end perms offset dev inode path"
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[5].Trim() != path || fields[1].Contains('w')) continue;
            var dash = fields[0].IndexOf('-');
            if (dash < 0) continue;
            if (ulong.TryParse(fields[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end) && end > start)
                found.Add((start, end));
        }
        return found;
    }
}
