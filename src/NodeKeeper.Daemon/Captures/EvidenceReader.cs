using System.Collections.Concurrent;
using System.Text.Json;
using NodeKeeper.Core.Captures;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Daemon.Captures;

/// <summary>
/// What the daemon reads in captured files, for nk why, nk describe, nk profile and nk heap: the summary lines of each
/// (cached by file, size and time: a file is read once), the evidence of a diagnostic report, and two heap snapshots
/// compared. Snapshots are read streaming and one at a time daemon-wide, so the daemon's memory stays bounded whatever
/// their size.
/// </summary>
public sealed class EvidenceReader
{
    private const int CacheSize = 256;
    private readonly ConcurrentDictionary<(string, long, DateTime), CaptureInfo> _cache = new();
    private readonly SemaphoreSlim _snapshots = new(1, 1);

    /// <summary>A capture with what it says (<see cref="CaptureInfo.Summary"/>), or why it cannot be read.</summary>
    public CaptureInfo Describe(CaptureFiles c, string? appDir)
    {
        var info = new FileInfo(c.Main);
        var key = (c.Main, info.Exists ? info.Length : -1, info.Exists ? info.LastWriteTimeUtc : default);
        if (_cache.TryGetValue(key, out var known)) return known;
        var capture = new CaptureInfo(c.Kind, c.Instance, c.Pid, c.At, c.Files, c.Bytes);
        try { capture = capture with { Summary = Summarise(c, appDir) }; }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or JsonException)
        {
            capture = capture with { Problem = ex.Message };
        }
        if (_cache.Count >= CacheSize) _cache.Clear();
        _cache[key] = capture;
        return capture;
    }

    private static IReadOnlyList<string> Summarise(CaptureFiles c, string? appDir)
    {
        switch (c.Kind)
        {
            case "stall":
            {
                using var stacks = File.OpenRead(c.Main);
                var profilePath = c.Files.FirstOrDefault(f => f.EndsWith(".cpuprofile", StringComparison.Ordinal));
                using var profile = profilePath is null ? null : File.OpenRead(profilePath);
                return CpuProfileSummary.ReadStall(stacks, profile, appDir).Evidence();
            }
            case "cpu":
            {
                using var profile = File.OpenRead(c.Main);
                return CpuProfileSummary.Read(profile, appDir: appDir).Evidence();
            }
            case "report":
                return ReportLines(c.Main);
            case "growth":
            {
                using var file = File.OpenRead(c.Main);
                var record = JsonSerializer.Deserialize(file, ProtocolJson.Default.HeapGrowthRecord)
                    ?? throw new InvalidDataException("an empty heap comparison");
                return GrowthLines(record);
            }
            default:
                return [$"heap snapshot, {c.Bytes / (1024.0 * 1024):0.#} MiB on disk (open it in Chrome DevTools, Memory tab)"];
        }
    }

    /// <summary>What Node's diagnostic report says, as evidence lines; none when it cannot be read.</summary>
    public IReadOnlyList<string> ReportEvidence(string path)
    {
        try { return ReportLines(path); }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException) { return []; }
    }

    private static IReadOnlyList<string> ReportLines(string path)
    {
        using var file = File.OpenRead(path);
        return CrashReport.Read(file).Evidence();
    }

    /// <summary>The lines of a heap comparison: the time between the snapshots, then the top growers.</summary>
    public static IReadOnlyList<string> GrowthLines(HeapGrowthRecord r)
    {
        var lines = new List<string>
        {
            $"heap snapshots {r.GapMs / 1000.0:0.#} s apart: {HeapGrowth.FormatBytes(r.HeapBefore)} -> {HeapGrowth.FormatBytes(r.HeapAfter)} of objects; what grew most:",
        };
        lines.AddRange(r.Grew.Take(5).Select(g => new HeapGrowth(g.Class, g.CountBefore, g.CountAfter, g.SizeBefore, g.SizeAfter).Describe()));
        if (r.Grew.Count == 0) lines.Add("nothing grew between the two snapshots");
        return lines;
    }

    /// <summary>
    /// Reads two heap snapshots (streaming, one at a time in the daemon) and writes their comparison to
    /// <paramref name="target"/> (atomically), from <paramref name="template"/>'s identity.
    /// </summary>
    public async Task<HeapGrowthRecord> CompareAsync(string before, string after, string target, HeapGrowthRecord template, CancellationToken ct)
    {
        await _snapshots.WaitAsync(ct);
        try
        {
            var (a, b) = await Task.Run(() => (Read(before, ct), Read(after, ct)), ct);
            var grew = HeapSnapshotSummary.Compare(a, b).Take(20)
                .Select(g => new HeapGrowthLine(g.Class, g.CountBefore, g.CountAfter, g.SizeBefore, g.SizeAfter)).ToList();
            var record = template with { HeapBefore = a.TotalSelfSize, HeapAfter = b.TotalSelfSize, Grew = grew };
            var partial = Path.Combine(Path.GetDirectoryName(target)!, "." + Path.GetFileName(target) + ".partial");
            await File.WriteAllBytesAsync(partial, JsonSerializer.SerializeToUtf8Bytes(record, ProtocolJson.Default.HeapGrowthRecord), ct);
            File.Move(partial, target, overwrite: true);
            return record;
        }
        finally { _snapshots.Release(); }
    }

    private static HeapSummary Read(string path, CancellationToken ct)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return HeapSnapshotSummary.Read(file, ct);
    }
}
