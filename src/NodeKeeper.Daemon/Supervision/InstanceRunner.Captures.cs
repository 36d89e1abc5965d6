using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// The evidence of one instance (the `capture` table): where its run writes captures, what becomes of a capture the
/// preload took by itself, the diagnostic report of an exit, and the two heap snapshots compared when its heap keeps
/// growing or when `nk heap` asks.
/// </summary>
public sealed partial class InstanceRunner
{
    /// <summary>A capture the preload took by itself (a blocked event loop).</summary>
    private sealed record CaptureTaken(CaptureNotice Notice) : InstanceEvent;

    private DateTimeOffset _lastHeapCapture = DateTimeOffset.MinValue;
    private int _heapCapturing;
    private long _lastNotice = long.MinValue / 2;

    /// <summary>The app's folder of captures for this run; null for an app run as another user (it cannot enter the
    /// home, see the README), or when the folder cannot be made (said in daemon.log).</summary>
    private string? CaptureFolder(AppSpec spec)
    {
        if (spec.User is not null) return null;
        try { return _ctx.Captures.Prepare(spec.Name); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("{App}:{Index}: no captures for this run: {Error}", spec.Name, Index, ex.Message);
            return null;
        }
    }

    private void Taken(CaptureNotice notice)
    {
        // The watchdog captures at most once per capture.interval: a notice a second is already more than the preload
        // sends, so what comes faster is the app's own doing and costs the daemon neither a log line nor a folder scan.
        var now = Environment.TickCount64;
        if (now - _lastNotice < 1000) return;
        _lastNotice = now;
        if (notice.Note is { } note)
        {
            _log.LogInformation("{App}:{Index}: {Note}", _app.Name, Index, note);
            return;
        }
        if (notice.Error is { } error)
            _log.LogWarning("{App}:{Index}: a {Kind} capture failed: {Error}", _app.Name, Index, notice.Kind, error);
        else
            _log.LogInformation("{App}:{Index}: captured {Kind} evidence ({File})", _app.Name, Index, notice.Kind, notice.File);
        _ctx.Captures.Enforce(_app.Name, _app.Spec.Capture);
    }

    /// <summary>The exit's diagnosis with what Node's diagnostic report of it says, when it wrote one.</summary>
    private ExitDiagnosis WithReport(ExitDiagnosis diagnosis, int pid)
    {
        var spec = _app.Spec;
        if (!spec.Capture.Reports || spec.User is not null) return diagnosis;
        if (_ctx.Captures.ClaimReport(spec.Name, Index, pid, _ctx.Clock.GetUtcNow()) is not { } report) return diagnosis;
        _ctx.Captures.Enforce(spec.Name, spec.Capture);
        var lines = _ctx.Evidence.ReportEvidence(report);
        return lines.Count == 0 ? diagnosis : diagnosis with { Evidence = [.. diagnosis.Evidence, .. lines] };
    }

    /// <summary>
    /// After each report: when the heap keeps growing (its trend says leak) and the capture policy allows, compares two
    /// heap snapshots capture.heap_gap apart, at most once per capture.interval.
    /// </summary>
    private void WatchHeap()
    {
        var spec = _app.Spec;
        var c = spec.Capture;
        if (!HeapWatchPossible()) return;
        if (Volatile.Read(ref _heapCapturing) != 0 || _process is not { Ipc: not null } || Report is not { } report) return;
        var now = _ctx.Clock.GetUtcNow();
        if (now - _lastHeapCapture < c.Interval || HeapGrowth is null) return;
        _lastHeapCapture = now;
        if (HeapSnapshotRefusal(report.HeapUsed, automatic: true) is { } refusal)
        {
            _log.LogWarning("{App}:{Index}: its heap keeps growing, but no heap snapshot is taken: {Why}", spec.Name, Index, refusal);
            return;
        }
        _log.LogInformation("{App}:{Index}: its heap keeps growing: comparing two heap snapshots {Gap} s apart", spec.Name, Index, c.HeapGap.TotalSeconds);
        _ = CompareHeapAsync(c.HeapGap, CancellationToken.None);
    }

    /// <summary>Whether the heap watch could act after a report: the policy allows it and the heap's trend says it grows.</summary>
    private bool HeapWatchPossible()
    {
        var spec = _app.Spec;
        var c = spec.Capture;
        if (c.Heap == HeapCapture.Never || (c.Heap == HeapCapture.Auto && spec.Instances < 2) || spec.User is not null) return false;
        return HeapGrowth is not null;
    }

    /// <summary>Why a heap snapshot of this run must not be taken now (one line); null when it may.</summary>
    public string? HeapSnapshotRefusal(long heapUsed, bool automatic)
    {
        var spec = _app.Spec;
        if (automatic && heapUsed > spec.Capture.MaxHeap)
            return $"its heap ({Core.Captures.HeapGrowth.FormatBytes(heapUsed)}) is above capture.max_heap ({Core.Captures.HeapGrowth.FormatBytes(spec.Capture.MaxHeap)})";
        // V8 needs about the heap's size again to write a snapshot.
        if (MemAvailable() is { } free && free < 2 * heapUsed)
            return $"the machine has {Core.Captures.HeapGrowth.FormatBytes(free)} of memory available, and a snapshot of a {Core.Captures.HeapGrowth.FormatBytes(heapUsed)} heap needs about twice that";
        if (spec.MaxMemory is { } max && Metrics?.MemoryBytes is { } rss && rss + heapUsed > max)
            return $"the snapshot could take it past max_memory ({Core.Captures.HeapGrowth.FormatBytes(max)}; it uses {Core.Captures.HeapGrowth.FormatBytes(rss)}, and the snapshot about {Core.Captures.HeapGrowth.FormatBytes(heapUsed)} more)";
        if (!_ctx.Captures.HasRoom(spec.Name, 3 * heapUsed))
            return $"the disk of {_ctx.Captures.FolderOf(spec.Name)} has no room for a snapshot of a {Core.Captures.HeapGrowth.FormatBytes(heapUsed)} heap";
        return null;
    }

    /// <summary>
    /// Takes a heap snapshot, another <paramref name="gap"/> later, and compares them (one comparison at a time per
    /// instance): the "growth" capture, or why there is none.
    /// </summary>
    public async Task<(CaptureInfo? Growth, string? Error)> CompareHeapAsync(TimeSpan gap, CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _heapCapturing, 1) != 0) return (null, "a heap comparison of this instance is already running");
        try
        {
            if (_process is not { } p) return (null, "the instance is not running");
            var spec = _app.Spec;
            var first = await p.CaptureAsync("heap", 0, SnapshotTimeout, ct);
            if (first.Error is { } e1) return (null, $"the first heap snapshot failed: {e1}");
            await Task.Delay(gap, _ctx.Clock, ct);
            if (Report is { } r && HeapSnapshotRefusal(r.HeapUsed, automatic: false) is { } refusal) return (null, $"no second heap snapshot: {refusal}");
            var second = await p.CaptureAsync("heap", 0, SnapshotTimeout, ct);
            if (second.Error is { } e2) return (null, $"the second heap snapshot failed: {e2}");
            var folder = _ctx.Captures.FolderOf(spec.Name);
            var at = _ctx.Clock.GetUtcNow();
            var file = Path.Combine(folder, Captures.CaptureStore.NameOf("growth", Index, p.Pid, at, "json"));
            await _ctx.Evidence.CompareAsync(Path.Combine(folder, first.File!), Path.Combine(folder, second.File!), file,
                new HeapGrowthRecord(Index, p.Pid, at, (long)gap.TotalMilliseconds, first.File!, second.File!, 0, 0, []), ct);
            _ctx.Captures.Enforce(spec.Name, spec.Capture);
            var growth = _ctx.Captures.List(spec.Name).FirstOrDefault(c => c.Main == file);
            _log.LogInformation("{App}:{Index}: compared two heap snapshots ({File})", spec.Name, Index, file);
            return growth is null ? (null, "the comparison was removed at once: raise capture.keep or capture.max_size") : (_ctx.Evidence.Describe(growth, spec.Cwd), null);
        }
        catch (OperationCanceledException) { return (null, "cancelled"); }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            _log.LogWarning("{App}:{Index}: comparing heap snapshots failed: {Error}", _app.Name, Index, ex.Message);
            return (null, $"comparing the heap snapshots failed: {ex.Message}");
        }
        finally { Volatile.Write(ref _heapCapturing, 0); }
    }

    /// <summary>A capture of this run now (`nk profile`): its notice, naming the file written or the error.</summary>
    public Task<CaptureNotice> CaptureAsync(string kind, long ms, CancellationToken ct) =>
        _process is { } p
            ? p.CaptureAsync(kind, ms, kind == "heap" ? SnapshotTimeout : TimeSpan.FromMilliseconds(ms) + TimeSpan.FromSeconds(15), ct)
            : Task.FromResult(new CaptureNotice { Kind = kind, Error = "the instance is not running" });

    /// <summary>The most a heap snapshot may take: a heap of a few GiB takes a minute or more.</summary>
    private static readonly TimeSpan SnapshotTimeout = TimeSpan.FromMinutes(5);

    private static long? MemAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(13).Trim().TrimEnd("kB").Trim(), out var kb)) return kb * 1024;
        }
        catch (IOException) { }
        return null;
    }
}
